"""Payment jobs: handle one stored Stripe event; reconcile recent events with Stripe.

Handling is idempotent (a delivery is handled once, every change forward-only), so a
re-delivered message or a retry is harmless. An event that came before the object it is
about raises `EventNotReady`, a transient error: the job retries with backoff.
"""

from __future__ import annotations

from lms.db import session_scope
from lms.errors import LmsError
from lms.payments.events import HANDLE_JOB, RECONCILE_JOB
from lms.payments.service.handling import delivery_failed, handle_delivery
from lms.payments.service.reconcile import reconcile as reconcile_events
from tasks.app import app
from tasks.base import TRANSIENT_ERRORS, JobContext, job_task


@job_task(HANDLE_JOB)
def handle_event(job: JobContext) -> dict:
    delivery_id = job.payload.get("delivery_id")
    try:
        with session_scope(job.settings) as session:
            return handle_delivery(session, delivery_id)
    except TRANSIENT_ERRORS as error:  # retried by the base class until the last attempt
        if job.attempt >= job.settings.job_max_attempts:
            _failed(job, delivery_id, f"{type(error).__name__}: {error}")
        raise
    except Exception as error:
        code = error.code if isinstance(error, LmsError) else type(error).__name__
        _failed(job, delivery_id, f"{code}: {error}")
        raise


def _failed(job: JobContext, delivery_id, message: str) -> None:
    with session_scope(job.settings) as session:
        delivery_failed(session, delivery_id, message)


@job_task(RECONCILE_JOB)
def reconcile(job: JobContext) -> dict:
    return reconcile_events()


@app.task(name="payments.schedule_reconcile", ignore_result=True)
def schedule_reconcile() -> None:
    """Beat's entry: record a reconcile job (so operators see each run) and publish it;
    nothing without Stripe keys."""
    from lms.jobs.service import enqueue
    from lms.payments.settings import payment_settings

    if not payment_settings().configured:
        return
    with session_scope() as session:
        enqueue(session, RECONCILE_JOB, {}, max_attempts=1)
