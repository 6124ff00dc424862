"""Job machinery tuning (`LMS_JOB_*`), kept apart from the core settings."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_JOB_", env_file=".env", extra="ignore")

    # A running job's lease: renewed every third of it while the work runs; once expired
    # (worker gone, final write lost) the reaper retries the job or fails it at its limit.
    lease_seconds: float = Field(60.0, ge=1.0, le=3600.0)
    # How often the scheduler (`lms beat`) looks for expired leases and unpublished jobs.
    reaper_interval_seconds: float = Field(5.0, gt=0, le=600.0)
    relay_interval_seconds: float = Field(10.0, gt=0, le=600.0)
    # A job still QUEUED this long after its publish is sent again by the relay: its message
    # was consumed by a start that a PostgreSQL crash then lost (starts commit without
    # waiting for the WAL flush). A duplicate for a job merely waiting that long in a backlog
    # is dropped by the guarded start.
    republish_after_seconds: float = Field(3600.0, ge=1.0, le=7 * 86400.0)
    # How long a publisher or relay owns the publishing of the jobs it claimed.
    publish_claim_seconds: float = Field(30.0, ge=1.0, le=3600.0)
    # Transient database errors in a status write: tries and the first pause (doubling).
    db_retries: int = Field(6, ge=1, le=20)
    db_retry_pause_seconds: float = Field(0.05, ge=0, le=5.0)
    # Extra task modules a worker loads (comma separated), e.g. test-only job kinds.
    extra_task_modules: str = ""


@functools.lru_cache(maxsize=1)
def job_settings() -> JobSettings:
    return JobSettings()
