"""Notifications configuration from `LMS_NOTIFICATION_*` environment variables (and `.env`).

LMS_NOTIFICATION_RETENTION_DAYS=90      expiry of a notification that names none
LMS_NOTIFICATION_FANOUT_BATCH=10000     recipients per set-wise statement of a fan-out
LMS_NOTIFICATION_FANOUT_CONNECTIONS=2   batches of one fan-out stored at once, each in its
                                        own transaction on its own connection (a fan-out is
                                        split into this many batches where each gets at
                                        least 1,000 recipients)
LMS_NOTIFICATION_DELIVERY_BATCH=200     emails or pushes per delivery job
LMS_NOTIFICATION_VAPID_PRIVATE_KEY=     VAPID key (PEM, or raw base64url); empty: one is
                                        made under LMS_VAR_DIR on first use (set it when
                                        API and workers do not share LMS_VAR_DIR: browsers
                                        subscribe with the API's public key)
LMS_NOTIFICATION_VAPID_SUBJECT=mailto:admin@lyceum.local
                                        the contact push services see (VAPID `sub`)
LMS_NOTIFICATION_PUSH_TTL_SECONDS=86400 how long a push service keeps an undelivered push
LMS_NOTIFICATION_PUSH_TIMEOUT_SECONDS=10
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LMS_NOTIFICATION_", env_file=".env", extra="ignore"
    )

    retention_days: int = Field(90, ge=1, le=3650)
    fanout_batch: int = Field(10000, ge=1, le=50000)
    fanout_connections: int = Field(2, ge=1, le=8)
    delivery_batch: int = Field(200, ge=1, le=5000)
    vapid_private_key: str = ""
    vapid_subject: str = Field("mailto:admin@lyceum.local", pattern=r"^(mailto:|https://)")
    push_ttl_seconds: int = Field(86400, ge=0, le=2419200)
    push_timeout_seconds: float = Field(10, gt=0, le=120)


@functools.lru_cache(maxsize=1)
def notifications_settings() -> NotificationsSettings:
    return NotificationsSettings()
