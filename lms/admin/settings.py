"""Monitoring thresholds (`LMS_ADMIN_*`), kept apart from the core settings."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_ADMIN_", env_file=".env", extra="ignore")

    # Celery inspect/control: how long to wait for workers before saying "not answering".
    inspect_timeout: float = Field(1.0, gt=0, le=30)
    inspect_cache_seconds: float = Field(2.0, ge=0, le=60)
    # Alert rules.
    backlog_warning: int = Field(100, ge=1)
    backlog_critical: int = Field(1000, ge=1)
    oldest_waiting_seconds: float = Field(300.0, gt=0)
    failure_rate_warning: float = Field(0.2, gt=0, le=1)
    failure_rate_critical: float = Field(0.5, gt=0, le=1)
    failure_rate_window_seconds: float = Field(900.0, gt=0)
    failure_rate_min_jobs: int = Field(5, ge=1)
    # A worker not seen for this long is forgotten (and stops alerting).
    forget_worker_after_seconds: float = Field(24 * 3600.0, gt=0)
    # History: events of finished jobs older than this are rolled up into hourly counts.
    event_retention_days: int = Field(30, ge=1)
    export_url_seconds: int = Field(24 * 3600, ge=60)
    stats_interval_seconds: float = Field(5.0, gt=0)
    alert_interval_seconds: float = Field(30.0, gt=0)
    # How often a worker writes its own heartbeat to the known-workers table.
    worker_heartbeat_seconds: float = Field(15.0, gt=0, le=3600)


@functools.lru_cache(maxsize=1)
def admin_settings() -> AdminSettings:
    return AdminSettings()
