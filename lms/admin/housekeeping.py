"""Monitoring rounds that must never wait behind user work: live queue stats and alert
evaluation. `lms beat` runs them on a thread of its own (`tasks/housekeeping.py`), beside
the reaper and the relay, so pausing or flooding any queue, `default` included, cannot
blind the operator page or silence a BACKLOG alert."""

from __future__ import annotations

from lms.admin import alerts
from lms.admin.broker_stats import queue_depths
from lms.admin.inspection import inspect_workers
from lms.admin.stats import collect_stats, snapshot_event
from lms.config import Settings
from lms.db import session_scope
from lms.events.bus import publish_event
from lms.events.topics import QUEUE_STATS
from lms.jobs.queues import QUEUES


def publish_queue_stats(settings: Settings) -> None:
    """Publish a `queueStatsUpdated` snapshot."""
    depths = queue_depths(QUEUES, settings)
    # Only the filesystem transport needs workers to count consumers.
    inspection = inspect_workers(settings) if settings.broker_is_filesystem else None
    with session_scope(settings) as session:
        stats = collect_stats(session, depths, inspection)
    publish_event(QUEUE_STATS, snapshot_event(stats), settings)


def evaluate_alerts(settings: Settings) -> int:
    """Run the alert rules; new alerts are stored and published on `jobAlerts`."""
    return len(alerts.evaluate(settings))
