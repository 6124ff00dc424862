"""Communication configuration from `LMS_COMMUNICATION_*` environment variables (and `.env`).

LMS_COMMUNICATION_MESSAGE_MAX_CHARS=10000      a message's text, before sanitizing
LMS_COMMUNICATION_ATTACHMENT_MAX_BYTES=5242880 all attachments of one message together
LMS_COMMUNICATION_DELETE_FOR_ALL_MINUTES=60    how long a sender may delete for everyone
LMS_COMMUNICATION_STUDENTS_MAY_MESSAGE_CLASSMATES=true
LMS_COMMUNICATION_GROUP_MAX_MEMBERS=10         a group conversation's size limit
LMS_COMMUNICATION_POST_MAX_CHARS=32000
LMS_COMMUNICATION_POST_INTERVAL_SECONDS=5      between two posts of one user (Discourse: 5)
LMS_COMMUNICATION_NEW_USER_POST_INTERVAL_SECONDS=30   the same for accounts younger than
LMS_COMMUNICATION_NEW_USER_DAYS=1
LMS_COMMUNICATION_DUPLICATE_POST_SECONDS=300   the same text again in this window is refused
LMS_COMMUNICATION_POSTS_PER_DAY=200            daily cap per user (new accounts: a tenth)
LMS_COMMUNICATION_FLAGS_TO_HIDE=3              distinct flaggers who hide a post
LMS_COMMUNICATION_PRESENCE_TTL_SECONDS=60      a heartbeat keeps a user present this long
LMS_COMMUNICATION_PRESENCE_BATCH_SECONDS=1.0   enter/leave broadcasts are batched this often
LMS_COMMUNICATION_PRESENCE_COUNT_ONLY_ABOVE=500   larger courses get counts, not names
LMS_COMMUNICATION_TYPING_TTL_SECONDS=6
LMS_COMMUNICATION_TYPING_REFRESH_SECONDS=3     a client's typing events closer than this are dropped
LMS_COMMUNICATION_TYPING_RATE=20/10            typing calls per client beyond this: RATE_LIMITED
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommunicationSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LMS_COMMUNICATION_", env_file=".env", extra="ignore"
    )

    message_max_chars: int = Field(10_000, ge=1, le=1_000_000)
    attachment_max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    attachments_per_message: int = Field(5, ge=0, le=50)
    delete_for_all_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    students_may_message_classmates: bool = True
    group_max_members: int = Field(10, ge=2, le=500)
    post_max_chars: int = Field(32_000, ge=1, le=1_000_000)
    post_interval_seconds: int = Field(5, ge=0, le=3600)
    new_user_post_interval_seconds: int = Field(30, ge=0, le=3600)
    new_user_days: int = Field(1, ge=0, le=365)
    duplicate_post_seconds: int = Field(300, ge=0, le=86400)
    posts_per_day: int = Field(200, ge=1, le=100_000)
    flags_to_hide: int = Field(3, ge=1, le=100)
    presence_ttl_seconds: int = Field(60, ge=5, le=3600)
    presence_batch_seconds: float = Field(1.0, gt=0, le=60)
    presence_count_only_above: int = Field(500, ge=1)
    typing_ttl_seconds: int = Field(6, ge=1, le=60)
    typing_refresh_seconds: float = Field(3, ge=0, le=60)
    typing_rate: str = Field("20/10", pattern=r"^\d+/\d+$")


@functools.lru_cache(maxsize=1)
def communication_settings() -> CommunicationSettings:
    return CommunicationSettings()
