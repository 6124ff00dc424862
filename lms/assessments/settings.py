"""Assessments configuration from `LMS_ASSESSMENTS_*` environment variables (and `.env`).

LMS_ASSESSMENTS_CLOSE_INTERVAL_SECONDS=2   how often `lms beat` closes attempts past deadline
LMS_ASSESSMENTS_CLOSE_BATCH=500            attempts closed per transaction by that sweep
LMS_ASSESSMENTS_DUE_SOON_HOURS=24          "assignment due soon" goes out this long before
LMS_ASSESSMENTS_MAX_FILE_BYTES=26214400    ceiling for any assignment's own file size limit
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AssessmentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LMS_ASSESSMENTS_", env_file=".env", extra="ignore"
    )

    close_interval_seconds: float = Field(2.0, gt=0, le=60)
    close_batch: int = Field(500, ge=1, le=10_000)
    due_soon_hours: int = Field(24, ge=1, le=24 * 14)
    max_file_bytes: int = Field(25 * 1024 * 1024, ge=1)


@functools.lru_cache(maxsize=1)
def assessment_settings() -> AssessmentSettings:
    return AssessmentSettings()
