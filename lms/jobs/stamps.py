"""Publish stamps: `published_at` and the Celery task id of jobs that reached the broker.

The stamp only spares the relay a republish: a lost or late one costs, once the publish
claim lapses, a duplicate message that the guarded start drops. So after-commit publishing
does not wait for it: the stamps go to the process's writer thread (`lms.jobs.writer`),
and every stamp pending there is written in one statement (an executemany), instead of
one round trip per committed transaction on the producer's path. The relay stamps at once
(`write`): it runs off any request's path and its claim is what keeps a second relay off.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable

from sqlalchemy import bindparam, update

from lms.config import Settings
from lms.jobs import writer
from lms.jobs.engine import job_engine
from lms.jobs.models import Job
from lms.jobs.states import retrying_db
from lms.models import utcnow

_JOBS = Job.__table__
# One statement for any number of jobs. Core, not the ORM: its bulk-update bookkeeping
# costs more than the round trip itself.
_STAMP = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(published_at=bindparam("published_at"), celery_task_id=bindparam("task_id"))
)

_lock = threading.Lock()
_owner_pid: int | None = None
_pending: dict[str, list[dict]] = {}  # database URL -> rows waiting for the writer
_settings: dict[str, Settings] = {}


def write(published: Iterable[tuple[uuid.UUID, str]], settings: Settings) -> None:
    """Stamp `(job id, task id)` pairs now."""
    _write(_rows(published), settings)


def write_later(published: Iterable[tuple[uuid.UUID, str]], settings: Settings) -> None:
    """Stamp them from the writer thread, together with whatever else is pending there."""
    rows = _rows(published)
    if not rows:
        return
    global _owner_pid
    with _lock:
        if _owner_pid != os.getpid():  # a forked child: the parent writes what it inherited
            _pending.clear()
            _settings.clear()
            _owner_pid = os.getpid()
        scheduled = bool(_pending)
        _pending.setdefault(settings.database_url, []).extend(rows)
        _settings[settings.database_url] = settings
    if not scheduled:
        writer.submit(_write_pending)


def _write_pending() -> None:
    with _lock:
        pending, settings = dict(_pending), dict(_settings)
        _pending.clear()
        _settings.clear()
    for database_url, rows in pending.items():
        _write(rows, settings[database_url])


def _rows(published: Iterable[tuple[uuid.UUID, str]]) -> list[dict]:
    now = utcnow()
    return [{"job_id": job_id, "published_at": now, "task_id": task} for job_id, task in published]


def _write(rows: list[dict], settings: Settings) -> None:
    if not rows:
        return

    def run() -> None:
        # Autocommitted without waiting for the WAL flush: a stamp lost in a database
        # crash costs one republish by the relay, which the guarded start drops.
        with job_engine(settings, durable=False).begin() as connection:
            connection.execute(_STAMP, rows)

    retrying_db(run, f"stamp of {len(rows)} published job(s)")
