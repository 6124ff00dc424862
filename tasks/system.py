"""Housekeeping tasks and the no-op job used by tests and benchmarks."""

from __future__ import annotations

from lms.jobs.service import relay_unpublished
from tasks.app import app
from tasks.base import JobContext, job_task


@app.task(name="system.relay", ignore_result=True)
def relay() -> int:
    """Publish committed-but-unpublished jobs (scheduled by beat)."""
    return relay_unpublished()


@job_task("system.noop")
def noop(job: JobContext) -> dict:
    """Does nothing: measures the job machinery itself. `steps` reports progress."""
    for step in range(int(job.payload.get("steps", 0))):
        job.progress.check()
        job.progress((step + 1) / job.payload["steps"], f"step {step + 1}", force=True)
    if "block_until" in job.payload:  # a test holds the job open until a file appears
        _wait_for_file(job, job.payload["block_until"])
    return {"ok": True}


def _wait_for_file(job: JobContext, path: str) -> None:
    import os
    import threading

    tick = threading.Event()
    while not os.path.exists(path):
        job.progress.check()
        tick.wait(0.05)


@app.task(name="system.raw_noop", ignore_result=True)
def raw_noop(sent_at: float | None = None) -> None:
    """A bare Celery task: the benchmark's baseline."""
