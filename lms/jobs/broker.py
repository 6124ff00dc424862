"""The Celery application configuration, shared by publishers (API, CLI) and workers.

Publishers use it only to send by task name; the task code lives in `tasks/` and is never
imported by the API.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

from lms.config import Settings, get_settings
from lms.jobs import filesystem_transport
from lms.jobs.queues import QUEUES, queue_for

log = logging.getLogger(__name__)


def filesystem_transport_options(settings: Settings) -> dict:
    root = Path(settings.broker_url.split("://", 1)[1] or settings.var_dir / "broker").resolve()
    folders = {name: root / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": False,
        # An upper bound only: consumers wake on inotify as soon as a message lands.
        "polling_interval": 0.1,
    }


def broker_connection_args(settings: Settings) -> tuple[str, dict]:
    """The kombu URL and transport options for `settings.broker_url`.

    `filesystem://` runs on Lyceum's own transport (`lms.jobs.filesystem_transport`):
    kombu's stock one can hand a consumer a half-written message."""
    if settings.broker_is_filesystem:
        # The folders are transport options; the host only silences kombu's "No hostname
        # was supplied" warning, logged each time a connection is described.
        return f"{filesystem_transport.SCHEME}://localhost/", filesystem_transport_options(settings)
    # Publisher confirms: a publish returns only once RabbitMQ has the message.
    return settings.broker_url, {"confirm_publish": True}


def make_celery(settings: Settings | None = None, *, main: str = "lyceum") -> Celery:
    settings = settings or get_settings()
    url, transport_options = broker_connection_args(settings)
    app = Celery(main, broker=url, set_as_current=False)
    app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_queues=[
            Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)
            for name in QUEUES
        ],
        task_default_queue="default",
        task_default_exchange="default",
        task_default_routing_key="default",
        task_routes=(_route,),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # outcomes live in the jobs table
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_default_delivery_mode="persistent",
        worker_send_task_events=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        timezone="UTC",
        enable_utc=True,
    )
    return app


def _route(name: str, args, kwargs, options, task=None, **kw) -> dict:
    queue = queue_for(name)
    return {"queue": queue, "exchange": queue, "routing_key": queue}


_publishers: dict[tuple[str, str], Celery] = {}


def publisher(settings: Settings | None = None) -> Celery:
    """A process-wide Celery client used only to send tasks by name."""
    settings = settings or get_settings()
    key = (settings.broker_url, str(settings.var_dir))
    if key not in _publishers:
        app = make_celery(settings)
        declare_queues(app)
        _publishers[key] = app
    return _publishers[key]


def declare_queues(app: Celery) -> None:
    """Declare every durable queue, so nothing published before the first worker starts
    is dropped by an exchange with no queue bound. A broker that is down is left to the
    publish itself (and the relay) to report."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
            channel = connection.default_channel
            for queue in app.amqp.queues.values():
                queue(channel).declare()
    except Exception:  # noqa: BLE001
        log.warning("could not declare queues on %s", app.conf.broker_url, exc_info=True)
