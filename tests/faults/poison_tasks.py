"""Test-only job kinds a fault test's worker loads (`LMS_JOB_EXTRA_TASK_MODULES`)."""

from __future__ import annotations

import os
import signal

from tasks.base import JobContext, job_task


@job_task("tests.poison")
def poison(job: JobContext) -> dict:
    """Kills the pool process running it, on every delivery: a poison message."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}
