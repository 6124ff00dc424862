"""Enrollments configuration from `LMS_ENROLLMENT_*` environment variables (and `.env`).

LMS_ENROLLMENT_VIDEO_COMPLETION_SHARE=0.9   share of a video that must be watched
                                            before the lesson counts as complete
LMS_ENROLLMENT_CERTIFICATE_PAPER=A4         A4 or letter
LMS_ENROLLMENT_CERTIFICATE_LINK_HOURS=168   lifetime of signed certificate download
                                            links (S3 presigning caps at 7 days)
LMS_ENROLLMENT_VERIFY_PATH=/certificates/verify/{code}
                                            the public verification page, appended to
                                            LMS_APP_URL (or LMS_PUBLIC_URL); in the QR code
LMS_ENROLLMENT_SCHOOL_NAME=Lyceum           printed at the top of certificates
LMS_ENROLLMENT_BADGE_SIGNING_KEY=           the school's Ed25519 key for Open Badges
                                            credentials (PEM, or the base64url 32-byte
                                            seed); required in production, made under
                                            LMS_VAR_DIR on first use otherwise
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lms.config import load_settings


class EnrollmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_ENROLLMENT_", env_file=".env", extra="ignore")

    video_completion_share: float = Field(0.9, ge=0.1, le=1.0)
    certificate_paper: Literal["A4", "letter"] = "A4"
    certificate_link_hours: int = Field(168, ge=1, le=168)
    verify_path: str = Field("/certificates/verify/{code}", pattern=r"^/.*\{code\}")
    school_name: str = Field("Lyceum", min_length=1, max_length=100)
    badge_signing_key: str = Field("", validate_default=True)

    @field_validator("badge_signing_key")
    @classmethod
    def _production_key(cls, value: str) -> str:
        # A generated key differs per host and per var/ folder: nobody could rely on it.
        if not value.strip() and load_settings().env == "production":
            raise ValueError("must be set in production (an Ed25519 private key)")
        return value


@functools.lru_cache(maxsize=1)
def enrollment_settings() -> EnrollmentSettings:
    return EnrollmentSettings()
