"""Accounts, their credentials (refresh and one-time tokens), profiles and preferences."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow

from lms.security import Role


class ProfileVisibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    ENROLLED_ONLY = "ENROLLED_ONLY"  # people who share a course with the user
    PRIVATE = "PRIVATE"


class AvatarStatus(enum.StrEnum):
    NONE = "NONE"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class TokenPurpose(enum.StrEnum):
    VERIFY_EMAIL = "VERIFY_EMAIL"
    RESET_PASSWORD = "RESET_PASSWORD"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Stored trimmed and lower-cased: uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Bumped on password change or forced logout: older access tokens stop working.
    token_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    email_verified_at: Mapped[datetime | None] = mapped_column()
    bio: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    language: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    profile_visibility: Mapped[ProfileVisibility] = mapped_column(
        Enum(ProfileVisibility, native_enum=False, length=16),
        default=ProfileVisibility.PUBLIC,
        server_default=ProfileVisibility.PUBLIC.value,
    )
    # Storage prefix of the current avatar (`avatars/{user_id}/{version}`); sizes live below.
    avatar_key: Mapped[str | None] = mapped_column(String(200))
    avatar_status: Mapped[AvatarStatus] = mapped_column(
        Enum(AvatarStatus, native_enum=False, length=16),
        default=AvatarStatus.NONE,
        server_default=AvatarStatus.NONE.value,
    )
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class RefreshToken(Base):
    """One opaque refresh token, stored as its SHA-256. Each use rotates it within its family;
    a second use of a rotated token revokes the whole family (stolen-token detection)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column()  # used once: a successor exists
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))


class OneTimeToken(Base):
    """An emailed token (verification, password reset): hashed, single-use, expiring."""

    __tablename__ = "user_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[TokenPurpose] = mapped_column(Enum(TokenPurpose, native_enum=False, length=24))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
