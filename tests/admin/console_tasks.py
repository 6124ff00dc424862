"""Test-only job kinds the Celery-states test's worker loads (`LMS_JOB_EXTRA_TASK_MODULES`)."""

from __future__ import annotations

from lms.errors import TransientJobError
from tasks.base import JobContext, job_task


@job_task("tests.flaky_once")
def flaky_once(job: JobContext) -> dict:
    """Fails with a passing error on its first attempt, succeeds on the next."""
    if job.attempt == 1:
        raise TransientJobError("the remote end hung up")
    return {"attempt": job.attempt}
