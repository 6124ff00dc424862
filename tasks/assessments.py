"""Assessment schedules, run by `lms beat` as plain tasks: close attempts past their
deadline (plus grace) and grade them; announce assignments due soon. Both are idempotent
sweeps over the database, so a missed or doubled run only shifts work.

And the regrade job of a corrected question (its report is stored with its changes).
"""

from __future__ import annotations

from lms.assessments.service.assignments import notify_due_soon
from lms.assessments.service import regrades
from lms.assessments.service.attempts import close_expired
from lms.assessments.settings import assessment_settings
from lms.db import session_scope
from tasks.app import app
from tasks.base import JobContext, job_task


@app.task(name="assessments.close_expired", ignore_result=True)
def close_expired_attempts() -> int:
    """Batches of attempts, each batch its own transaction, until none is left."""
    batch = assessment_settings().close_batch
    closed = 0
    while True:
        with session_scope() as session:
            done = close_expired(session, limit=batch)
        closed += done
        if done < batch:
            return closed


@app.task(name="assessments.notify_due_soon", ignore_result=True)
def announce_due_soon() -> int:
    with session_scope() as session:
        return notify_due_soon(session)


@job_task(regrades.REGRADE_QUESTION)
def regrade_question(job: JobContext) -> dict:
    with session_scope(job.settings) as session:
        return regrades.run_question_regrade(session, job.job_id)
