"""Accounts. The Users module adds credentials flows; the shell needs identity and role."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class Role(enum.StrEnum):
    STUDENT = "STUDENT"
    EDUCATOR = "EDUCATOR"
    ADMIN = "ADMIN"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Bumped on password change or forced logout: older access tokens stop working.
    token_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
