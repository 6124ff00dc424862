"""The Celery application the workers run: `celery -A tasks.app worker` (or `lms worker`)."""

from __future__ import annotations

import logging

from lms.config import get_settings
from lms.jobs.broker import make_celery

settings = get_settings()
app = make_celery(settings)
app.conf.include = [
    "tasks.system",
    "tasks.email",
    "tasks.courses",
    "tasks.users",
    "tasks.admin",
    "tasks.media",
    "tasks.certificates",
    "tasks.search",
    "pipelines.certificate_issuance",
]
app.conf.beat_schedule = {
    # Publishes jobs whose commit succeeded but whose publish was lost.
    "relay-unpublished-jobs": {"task": "system.relay", "schedule": 10.0},
    # Operator monitoring: alert rules, live queue stats (queueStatsUpdated), event retention.
    "admin-evaluate-alerts": {"task": "admin.evaluate_alerts", "schedule": 30.0},
    "admin-publish-queue-stats": {"task": "admin.publish_queue_stats", "schedule": 5.0},
    "admin-roll-up-events": {"task": "admin.roll_up_events", "schedule": 3600.0},
    # Search: index courses whose job was held back or lost; words, counters, trending.
    "search-index-pending": {"task": "search.index_pending", "schedule": 30.0},
    "search-refresh-terms": {"task": "search.refresh_terms", "schedule": 3600.0},
    "search-refresh-counters": {"task": "search.refresh_counters", "schedule": 300.0},
    "search-roll-up-trending": {"task": "search.roll_up_trending", "schedule": 600.0},
}
app.conf.beat_schedule_filename = str(settings.var_dir / "celerybeat-schedule")
logging.getLogger("lms").setLevel(logging.INFO)
