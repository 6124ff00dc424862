"""Helpers every section of the accounts service uses: tokens, emails, names, lookup."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid

from sqlalchemy.orm import Session

from lms.config import Settings
from lms.errors import NotFound, PermanentJobError, ValidationFailed
from lms.mail.templates import parse_address
from lms.users.errors import UserCode
from lms.users.models import User


MAX_NAME = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def account_key(raw: str | None) -> str:
    """The account an email names, for counters: normalized when valid, else as typed."""
    try:
        return normalize_email(raw or "")
    except ValidationFailed:
        return (raw or "").strip().lower()


def normalize_email(raw: str) -> str:
    """Trimmed and lower-cased; one bare address, or `INVALID_EMAIL`."""
    email = (raw or "").strip().lower()
    if not email or len(email) > 320 or "<" in email or " " in email:
        raise ValidationFailed("this is not a valid email address", code=UserCode.INVALID_EMAIL)
    try:
        parse_address(email, code=UserCode.INVALID_EMAIL, what="email")
    except PermanentJobError:
        raise ValidationFailed(
            "this is not a valid email address", code=UserCode.INVALID_EMAIL
        ) from None
    return email


def clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > MAX_NAME or any(unicodedata.category(c) == "Cc" for c in name):
        raise ValidationFailed(
            f"the name must have 1 to {MAX_NAME} characters", code=UserCode.INVALID_NAME
        )
    return name


def find_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", code="NOT_FOUND")
    return user


def link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.links_base}/{path}?token={token}"
