"""Emailed tokens: email verification, password reset, and the signed sign-in unlock link."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.errors import ValidationFailed
from lms.mail.jobs import request_email
from lms.models import utcnow
from lms.security import Viewer, require_authenticated
from lms.storage import signing
from lms.users.errors import UserCode
from lms.users.models import OneTimeToken, TokenPurpose, User
from lms.users.service.common import find_user, link, new_token, normalize_email, token_hash
from lms.users.service.sessions import revoke_everything
from lms.users.service.views import user_view


def send_verification(session: Session, user: User, settings: Settings) -> None:
    raw = new_token()
    now = utcnow()
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=TokenPurpose.VERIFY_EMAIL,
            token_hash=token_hash(raw),
            created_at=now,
            expires_at=now + timedelta(hours=settings.email_verification_hours),
        )
    )
    request_email(
        session,
        template="verify_email",
        to=user.email,
        context={"name": user.name, "verify_url": link(settings, "verify-email", raw)},
        subject=("user", user.id),
    )


def _valid_token(
    session: Session, raw: str, purpose: TokenPurpose, *, lock: bool = False
) -> OneTimeToken:
    query = select(OneTimeToken).where(
        OneTimeToken.token_hash == token_hash(raw or ""), OneTimeToken.purpose == purpose
    )
    token = session.scalar(query.with_for_update() if lock else query)
    if token is None:
        raise ValidationFailed(
            "this link is not valid; ask for a new one", code=UserCode.INVALID_TOKEN
        )
    if token.used_at is not None:
        raise ValidationFailed(
            "this link was already used; ask for a new one", code=UserCode.TOKEN_USED
        )
    if token.expires_at <= utcnow():
        raise ValidationFailed("this link expired; ask for a new one", code=UserCode.TOKEN_EXPIRED)
    return token


def verify_email(
    session: Session, *, token: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Confirm the address the token was sent to; send the welcome email the first time."""
    settings = settings or get_settings()
    record = _valid_token(session, token, TokenPurpose.VERIFY_EMAIL, lock=True)
    record.used_at = utcnow()
    user = find_user(session, record.user_id)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        request_email(
            session,
            template="welcome",
            to=user.email,
            context={"name": user.name, "login_url": f"{settings.links_base}/login"},
            subject=("user", user.id),
        )
    return user_view(session, user, full=True)


def resend_verification(session: Session, viewer: Viewer, settings: Settings | None = None) -> bool:
    """Send a fresh verification link (the old ones stay valid until they expire)."""
    user = find_user(session, require_authenticated(viewer))
    if user.email_verified_at is not None:
        return False
    send_verification(session, user, settings or get_settings())
    return True


def request_password_reset(
    session: Session, *, email: str, settings: Settings | None = None
) -> bool:
    """Email a reset link if the account exists; the answer is the same either way."""
    settings = settings or get_settings()
    email = normalize_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        return True
    raw = new_token()
    now = utcnow()
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=TokenPurpose.RESET_PASSWORD,
            token_hash=token_hash(raw),
            created_at=now,
            expires_at=now + timedelta(minutes=settings.password_reset_minutes),
        )
    )
    minutes = settings.password_reset_minutes
    request_email(
        session,
        template="password_reset",
        to=user.email,
        context={
            "name": user.name,
            "reset_url": link(settings, "reset-password", raw),
            "expires_in": "1 hour" if minutes == 60 else f"{minutes} minutes",
        },
        subject=("user", user.id),
    )
    return True


UNLOCK_PURPOSE = "unlock-sign-in"


def _unlock_token(user_id: uuid.UUID, settings: Settings) -> str:
    expires = int(time.time()) + settings.login_unlock_link_hours * 3600
    signature = signing.sign(
        f"unlock/{user_id.hex}", expires, purpose=UNLOCK_PURPOSE, settings=settings
    )
    return f"{user_id.hex}-{expires}-{signature}"


def send_unlock_email(
    session: Session, user_id: uuid.UUID, *, ip: str | None, settings: Settings | None = None
) -> None:
    """Tell the owner that sign-ins from `ip` are locked, with a link that lifts every lock."""
    settings = settings or get_settings()
    user = find_user(session, user_id)
    request_email(
        session,
        template="unlock_sign_in",
        to=user.email,
        context={
            "name": user.name,
            "source": ip or "an unknown address",
            "failures": settings.login_lock_failures,
            "lock_minutes": max(1, settings.login_lock_seconds // 60),
            "unlock_url": link(settings, "unlock-sign-in", _unlock_token(user.id, settings)),
            "expires_in": f"{settings.login_unlock_link_hours} hours",
        },
        subject=("user", user.id),
    )


def unlock_target(session: Session, *, token: str, settings: Settings | None = None) -> str:
    """The email of the account an unlock link was made for; raises if it is not genuine."""
    settings = settings or get_settings()
    user_hex, _, rest = (token or "").partition("-")
    expires, _, signature = rest.partition("-")
    try:
        user_id = uuid.UUID(hex=user_hex)
    except ValueError:
        raise signing.SignatureInvalid("this unlock link is not valid") from None
    signing.verify(
        f"unlock/{user_id.hex}", expires, signature, purpose=UNLOCK_PURPOSE, settings=settings
    )
    return find_user(session, user_id).email


def reset_target(session: Session, *, token: str) -> str:
    """The email of the account a valid reset token belongs to (for the strength rule)."""
    record = _valid_token(session, token, TokenPurpose.RESET_PASSWORD)
    return find_user(session, record.user_id).email


def reset_password(session: Session, *, token: str, password_hash: str) -> bool:
    """Set the new password, spend the token, and sign out every session."""
    record = _valid_token(session, token, TokenPurpose.RESET_PASSWORD, lock=True)
    record.used_at = utcnow()
    user = find_user(session, record.user_id)
    user.password_hash = password_hash
    if user.email_verified_at is None:  # the link reached the inbox: the address is theirs
        user.email_verified_at = utcnow()
    revoke_everything(session, user, reason="PASSWORD_RESET")
    # Any other reset link still out there is now pointless: spend them all.
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == TokenPurpose.RESET_PASSWORD,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return True
