"""Analytics configuration from `LMS_ANALYTICS_*` environment variables (and `.env`).

LMS_ANALYTICS_MAX_RANGE_DAYS=366     longest date range a query or report accepts
LMS_ANALYTICS_MIN_GROUP=5            smaller groups are not broken down (privacy)
LMS_ANALYTICS_INACTIVE_DAYS=7        at risk after this many days without a visit
LMS_ANALYTICS_BEHIND_PERCENT=30      at risk this many points behind the cohort's median
LMS_ANALYTICS_REPORT_URL_SECONDS=3600  how long a report's signed links work
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_ANALYTICS_", env_file=".env", extra="ignore")

    max_range_days: int = Field(366, ge=1, le=3660)
    min_group: int = Field(5, ge=1, le=100)
    inactive_days: int = Field(7, ge=1, le=365)
    behind_percent: float = Field(30.0, ge=1, le=100)
    report_url_seconds: int = Field(3600, ge=60, le=7 * 86400)


@functools.lru_cache(maxsize=1)
def analytics_settings() -> AnalyticsSettings:
    return AnalyticsSettings()
