"""Monitoring work: alert evaluation and queue stats on a schedule, exports as jobs, event
retention, and paused queues honoured by workers that start while a queue is paused."""

from __future__ import annotations

import logging
from datetime import datetime

from celery.signals import celeryd_after_setup

from lms.admin import exports, housekeeping, retention
from lms.admin.settings import admin_settings
from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.models import QueueState
from tasks.app import app
from tasks.base import JobContext, job_task

log = logging.getLogger(__name__)


# `lms beat` runs these two itself (lms/admin/housekeeping.py); the tasks remain for a
# one-off round from a tool or benchmark.
@app.task(name="admin.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> int:
    return housekeeping.evaluate_alerts(get_settings())


@app.task(name="admin.publish_queue_stats", ignore_result=True, expires=10)
def publish_queue_stats() -> None:
    housekeeping.publish_queue_stats(get_settings())


@app.task(name="admin.roll_up_events", ignore_result=True)
def roll_up_events() -> int:
    """Roll up job events older than the retention window (a few batches per run)."""
    total = 0
    for _ in range(20):
        with session_scope() as session:
            done = retention.roll_up_old_events(session, admin_settings().event_retention_days)
        total += done
        if done < retention.BATCH:
            break
    return total


@job_task(exports.EXPORT_KIND)
def export_monitoring(job: JobContext) -> dict:
    start = datetime.fromisoformat(job.payload["start"])
    end = datetime.fromisoformat(job.payload["end"])
    with session_scope(job.settings) as session:
        return exports.write_export(session, job.job_id, start, end, job.settings)


@celeryd_after_setup.connect
def honour_paused_queues(sender: str, instance, **_kwargs) -> None:
    """A worker starting while a queue is paused must not consume it: drop it from the
    worker's queues before consuming starts, and note the worker for RESUME."""
    try:
        queues = instance.app.amqp.queues
        consuming = set(queues.consume_from)
        with session_scope() as session:
            for state in session.query(QueueState).filter(QueueState.paused.is_(True)):
                if state.queue in consuming:
                    queues.deselect(state.queue)
                    state.paused_workers = sorted(set(state.paused_workers or []) | {sender})
                    log.warning(
                        "queue %s is paused: %s will not consume it until RESUME",
                        state.queue,
                        sender,
                    )
    except Exception:  # noqa: BLE001 - a worker must start even if the database is away
        log.exception("could not read paused queues at worker start")
