"""The Celery application the workers run: `celery -A tasks.app worker` (or `lms worker`)."""

from __future__ import annotations

import importlib.util
import logging

from celery import signals

from lms.assessments.settings import assessment_settings
from lms.config import get_settings
from lms.domains import DOMAINS
from lms.jobs.broker import make_celery
from lms.jobs.settings import job_settings
from lms.logs import configure_logging

settings = get_settings()
app = make_celery(settings)
app.conf.include = [
    "tasks.system",
    "tasks.email",
    # Each domain's tasks, in the module named by it (`tasks/<domain>.py`), found by name.
    *(f"tasks.{name}" for name in DOMAINS if importlib.util.find_spec(f"tasks.{name}")),
    "pipelines.registry",  # the tasks of every declared pipeline
    # Extra job kinds a deployment (or a fault test) adds: LMS_JOB_EXTRA_TASK_MODULES.
    *filter(None, (name.strip() for name in job_settings().extra_task_modules.split(","))),
]
app.conf.beat_schedule = {
    # Operator monitoring: event retention. Alert rules and live queue stats run inside
    # `lms beat` itself (tasks/housekeeping.py), never behind a paused or flooded queue.
    "admin-roll-up-events": {"task": "admin.roll_up_events", "schedule": 3600.0},
    # Notifications held by quiet hours or a digest window; expiry.
    "notifications-release": {"task": "notifications.release", "schedule": 60.0},
    "notifications-expire": {"task": "notifications.expire", "schedule": 86400.0},
    # Content: abort multipart uploads abandoned past LMS_MULTIPART_UPLOAD_HOURS.
    "content-abort-abandoned-uploads": {
        "task": "content.abort_abandoned_uploads",
        "schedule": 3600.0,
    },
    # Payments: handle Stripe events whose webhook never arrived.
    "payments-reconcile": {"task": "payments.schedule_reconcile", "schedule": 300.0},
    # Search: index courses whose job was held back or lost; words, counters, trending.
    "search-index-pending": {"task": "search.index_pending", "schedule": 30.0},
    "search-refresh-terms": {"task": "search.refresh_terms", "schedule": 3600.0},
    "search-refresh-counters": {"task": "search.refresh_counters", "schedule": 300.0},
    "search-roll-up-trending": {"task": "search.roll_up_trending", "schedule": 600.0},
    # Analytics: learning events folded into the daily rollups from the stored watermark.
    "analytics-roll-up": {"task": "analytics.roll_up", "schedule": 60.0},
    # Assessments: the server keeps quiz deadlines; reminders of assignments due soon.
    "assessments-close-expired": {
        "task": "assessments.close_expired",
        "schedule": assessment_settings().close_interval_seconds,
    },
    "assessments-notify-due-soon": {"task": "assessments.notify_due_soon", "schedule": 600.0},
    # Communication: scheduled announcements whose time has come.
    "communication-publish-due": {"task": "communication.publish_due", "schedule": 10.0},
}
app.conf.beat_schedule_filename = str(settings.var_dir / "celerybeat-schedule")
logging.getLogger("lms").setLevel(logging.INFO)
HOUSEKEEPING = frozenset(entry["task"] for entry in app.conf.beat_schedule.values())


class QuietHousekeeping(logging.Filter):
    """The scheduled housekeeping runs every few seconds: its "received" and "succeeded"
    lines would bury real work on the console, so only its failures are logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)  # Celery passes the task context as `data`
        routine = isinstance(data, dict) and data.get("name") in HOUSEKEEPING
        return not (routine and record.levelno <= logging.INFO)


for _logger in ("celery.app.trace", "celery.worker.strategy"):
    logging.getLogger(_logger).addFilter(QuietHousekeeping())


@signals.setup_logging.connect
def use_lms_logging(loglevel=None, **_kwargs) -> None:
    """Workers and beat log like every other `lms` process (text or JSON lines): a receiver
    of this signal replaces Celery's own logging set-up."""
    configure_logging(settings.log_format, loglevel or settings.log_level)


@signals.beat_init.connect
def _job_housekeeping(sender=None, **_kwargs) -> None:
    """The reaper (expired leases), the relay (unpublished jobs), queue stats and alert rules
    run inside the scheduler itself, not as tasks: a paused or flooded queue can never
    starve them."""
    from tasks.housekeeping import start_housekeeping

    start_housekeeping(settings)


from tasks import heartbeat  # noqa: E402, F401 - connects the worker's own heartbeat
