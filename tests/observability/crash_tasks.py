"""Test-only job kinds (`LMS_JOB_EXTRA_TASK_MODULES`): one refuses its input as an
expected error, one crashes with a bug whose message names a person."""

from __future__ import annotations

from lms.errors import PermanentJobError
from tasks.base import JobContext, job_task


@job_task("tests.refuse")
def refuse(job: JobContext) -> dict:
    raise PermanentJobError("this input can never work", code="INVALID_MEDIA")


@job_task("tests.crash")
def crash(job: JobContext) -> dict:
    raise RuntimeError(f"unexpected state for {job.payload['email']}")
