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
    "tasks.payments",
    "pipelines.certificate_issuance",
]
app.conf.beat_schedule = {
    # Publishes jobs whose commit succeeded but whose publish was lost.
    "relay-unpublished-jobs": {"task": "system.relay", "schedule": 10.0},
    # Operator monitoring: alert rules, live queue stats (queueStatsUpdated), event retention.
    "admin-evaluate-alerts": {"task": "admin.evaluate_alerts", "schedule": 30.0},
    "admin-publish-queue-stats": {"task": "admin.publish_queue_stats", "schedule": 5.0},
    "admin-roll-up-events": {"task": "admin.roll_up_events", "schedule": 3600.0},
    # Payments: handle Stripe events whose webhook never arrived.
    "payments-reconcile": {"task": "payments.schedule_reconcile", "schedule": 300.0},
}
app.conf.beat_schedule_filename = str(settings.var_dir / "celerybeat-schedule")
logging.getLogger("lms").setLevel(logging.INFO)
