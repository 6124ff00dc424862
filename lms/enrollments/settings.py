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
LMS_ENROLLMENT_SIGNATURE_IMAGE=             optional PNG/JPEG file (a local path, absolute
                                            or relative to the working directory) drawn
                                            above the instructors line; transparent PNG
                                            looks best, about 3.3:1 (180 x 44 pt at most)
LMS_ENROLLMENT_SEAL_IMAGE=                  optional PNG/JPEG file drawn in the top right
                                            corner (72 pt at most); both are checked at
                                            start-up and read again for each certificate
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from certificates.data import CertificateImageError, check_image
from lms.config import load_settings


class EnrollmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_ENROLLMENT_", env_file=".env", extra="ignore")

    video_completion_share: float = Field(0.9, ge=0.1, le=1.0)
    certificate_paper: Literal["A4", "letter"] = "A4"
    certificate_link_hours: int = Field(168, ge=1, le=168)
    # The issuance job's time limit (rendering takes milliseconds; storage may be slow).
    certificate_time_limit_seconds: float = Field(300.0, gt=0)
    verify_path: str = Field("/certificates/verify/{code}", pattern=r"^/.*\{code\}")
    school_name: str = Field("Lyceum", min_length=1, max_length=100)
    badge_signing_key: str = Field("", validate_default=True)
    signature_image: str = ""
    seal_image: str = ""

    @field_validator("badge_signing_key")
    @classmethod
    def _production_key(cls, value: str) -> str:
        # A generated key differs per host and per var/ folder: nobody could rely on it.
        if not value.strip() and load_settings().env == "production":
            raise ValueError("must be set in production (an Ed25519 private key)")
        return value

    @field_validator("signature_image", "seal_image")
    @classmethod
    def _readable_image(cls, value: str) -> str:
        # A missing or broken file stops the process at start-up, not every issuance later.
        if value.strip():
            try:
                read_certificate_image(value.strip())
            except CertificateImageError as error:
                raise ValueError(f"{error} [{error.code}]") from None
        return value.strip()

    def certificate_images(self) -> tuple[bytes | None, bytes | None]:
        """(signature, seal) bytes, read now so a replaced file is used from the next issue.

        Raises `CertificateImageError` (code INVALID_CERTIFICATE_IMAGE) when a file went
        missing or broken since start-up.
        """
        return (
            read_certificate_image(self.signature_image) if self.signature_image else None,
            read_certificate_image(self.seal_image) if self.seal_image else None,
        )


def read_certificate_image(path: str) -> bytes:
    """A PNG/JPEG file's bytes; `CertificateImageError` naming the file otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CertificateImageError(
            f"cannot read {path} ({error.strerror or type(error).__name__})"
        ) from None
    check_image(data, path)
    return data


@functools.lru_cache(maxsize=1)
def enrollment_settings() -> EnrollmentSettings:
    return EnrollmentSettings()
