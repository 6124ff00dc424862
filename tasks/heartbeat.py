"""A worker's own heartbeat: its main process writes the time to its known-workers row
every `LMS_ADMIN_WORKER_HEARTBEAT_SECONDS`, and the console shows it (`heartbeatAt`).

Celery's own heartbeats reach the database only through `lms monitor`; this one needs
nothing but the worker and the database, so a stale `heartbeatAt` means that worker's
main process is stuck or cannot reach the database, whoever else is running.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import signals

from lms.admin.settings import admin_settings
from lms.admin.workers import heartbeat
from lms.db import session_scope

log = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(hostname: str, queues: list[str]) -> None:
    try:
        with session_scope() as session:
            heartbeat(session, hostname, queues)
    except Exception:  # noqa: BLE001 - a missed beat is what the console then shows
        log.warning("worker heartbeat not written", exc_info=True)


def _loop(hostname: str, queues: list[str]) -> None:
    while not _stop.wait(admin_settings().worker_heartbeat_seconds):
        _beat(hostname, queues)


@signals.worker_ready.connect
def _start(sender: Any = None, **_kwargs: Any) -> None:
    """The first beat before the worker says it is ready; then one per interval."""
    hostname = sender.hostname
    queues = sorted(q.name for q in getattr(sender.task_consumer, "queues", []) or [])
    _stop.clear()
    _beat(hostname, queues)
    threading.Thread(
        target=_loop, args=(hostname, queues), name="worker-heartbeat", daemon=True
    ).start()


@signals.worker_shutdown.connect
def _halt(**_kwargs: Any) -> None:
    _stop.set()
