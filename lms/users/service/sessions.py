"""Sessions: refresh-token families, sign-in, rotation (with a grace window), sign-out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.errors import Forbidden, LmsError, Unauthenticated, ValidationFailed
from lms.models import utcnow
from lms.security import Viewer, issue_access_token
from lms.users.errors import UserCode
from lms.users.models import RefreshToken, User
from lms.users.service.common import find_user, new_token, normalize_email, token_hash
from lms.users.service.views import user_view


@dataclass(frozen=True)
class AuthResult:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: dict[str, Any]


def issue_tokens(
    session: Session,
    user: User,
    *,
    ip: str | None,
    family_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    raw: str | None = None,
) -> AuthResult:
    """A refresh token (a new family, or the next of `family_id`) and an access token."""
    settings = settings or get_settings()
    now = utcnow()
    raw = raw or new_token()
    refresh = RefreshToken(
        user_id=user.id,
        family_id=family_id or uuid.uuid4(),
        token_hash=token_hash(raw),
        created_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_days),
        ip=ip,
    )
    session.add(refresh)
    return AuthResult(
        access_token=issue_access_token(user, settings),
        access_token_expires_at=now + timedelta(minutes=settings.access_token_minutes),
        refresh_token=raw,
        refresh_token_expires_at=refresh.expires_at,
        user=user_view(session, user, full=True),
    )


def revoke_families(
    session: Session, user_id: uuid.UUID, *, reason: str, family_id: uuid.UUID | None = None
) -> int:
    """Revoke every refresh token of the user (or of one family); the number of sessions
    (families) that were still usable."""
    where = [RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)]
    if family_id is not None:
        where.append(RefreshToken.family_id == family_id)
    live = session.scalar(
        select(func.count(func.distinct(RefreshToken.family_id))).where(
            *where, RefreshToken.rotated_at.is_(None), RefreshToken.expires_at > utcnow()
        )
    )
    session.execute(
        update(RefreshToken).where(*where).values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(live or 0)


def revoke_everything(session: Session, user: User, reason: str) -> None:
    """Password changed or reset: every family dies, and so do outstanding access tokens."""
    revoke_families(session, user.id, reason=reason)
    user.token_version += 1


def credentials_for(session: Session, email: str) -> tuple[uuid.UUID, str | None] | None:
    """(user id, password hash) of an account, or None; the email is normalized first."""
    try:
        email = normalize_email(email)
    except ValidationFailed:
        return None
    row = session.execute(select(User.id, User.password_hash).where(User.email == email)).first()
    return (row.id, row.password_hash) if row else None


def start_session(
    session: Session,
    user_id: uuid.UUID,
    *,
    ip: str | None,
    new_hash: str | None = None,
) -> AuthResult:
    """Sign in a user whose password was just verified (a new refresh-token family)."""
    user = find_user(session, user_id)
    if new_hash:  # cost settings went up since this hash was made
        user.password_hash = new_hash
    return issue_tokens(session, user, ip=ip)


def refresh_owner(session: Session, raw_token: str) -> uuid.UUID | None:
    """Whose refresh token this is (for per-account rate limits); None if unknown."""
    return session.scalar(
        select(RefreshToken.user_id).where(RefreshToken.token_hash == token_hash(raw_token or ""))
    )


def rotate_refresh_token(
    session: Session, raw_token: str, *, ip: str | None
) -> AuthResult | LmsError:
    """A new access token and the family's next refresh token.

    A failure is *returned*, not raised: presenting an already-rotated token revokes its
    whole family, and that revocation must be committed although the call fails.
    """
    query = select(RefreshToken).where(RefreshToken.token_hash == token_hash(raw_token or ""))
    token = session.scalar(query.with_for_update())
    if token is None:
        return Unauthenticated("unknown refresh token", code=UserCode.INVALID_REFRESH_TOKEN)
    if token.revoked_at is not None:
        return Unauthenticated(
            "this session was signed out; sign in again", code=UserCode.REFRESH_TOKEN_REVOKED
        )
    if token.rotated_at is not None:
        again = _within_grace(session, token, raw_token)
        if again is not None:
            return again
        revoke_families(session, token.user_id, reason="REUSE", family_id=token.family_id)
        return Unauthenticated(
            "this refresh token was already used; the session is revoked, sign in again",
            code=UserCode.REFRESH_TOKEN_REUSED,
        )
    if token.expires_at <= utcnow():
        return Unauthenticated(
            "the refresh token expired; sign in again", code=UserCode.REFRESH_TOKEN_EXPIRED
        )
    token.rotated_at = utcnow()
    user = find_user(session, token.user_id)
    return issue_tokens(
        session, user, ip=ip, family_id=token.family_id, raw=_successor(raw_token, None)
    )


def _successor(raw_token: str, settings: Settings | None) -> str:
    """The refresh token that follows `raw_token`, derived rather than stored.

    Deriving it (an HMAC under the secret key) lets a concurrent second use of the same
    token be answered with the very same successor without keeping any token in clear.
    """
    key = (settings or get_settings()).secret_key.encode()
    digest = hmac.new(key, b"lms.refresh.successor\n" + raw_token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _within_grace(session: Session, token: RefreshToken, raw_token: str) -> AuthResult | None:
    """Two tabs refreshing at once: the second, within the grace window, gets the same
    successor (and a fresh access token) as long as that successor is still unused."""
    settings = get_settings()
    if utcnow() - token.rotated_at > timedelta(seconds=settings.refresh_grace_seconds):
        return None
    raw = _successor(raw_token, settings)
    successor = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(raw)).with_for_update()
    )
    if successor is None or successor.rotated_at is not None or successor.revoked_at is not None:
        return None
    user = find_user(session, token.user_id)
    return AuthResult(
        access_token=issue_access_token(user, settings),
        access_token_expires_at=utcnow() + timedelta(minutes=settings.access_token_minutes),
        refresh_token=raw,
        refresh_token_expires_at=successor.expires_at,
        user=user_view(session, user, full=True),
    )


def logout(
    session: Session, viewer: Viewer, *, refresh_token: str | None, all_devices: bool
) -> int:
    """Revoke one session (the family of `refresh_token`) or, with `all_devices`, all of them."""
    if all_devices:
        user_id = viewer.user_id
        if user_id is None and refresh_token:
            user_id = refresh_owner(session, refresh_token)
        if user_id is None:
            raise Unauthenticated("sign in (or give a refresh token) to sign out everywhere")
        user = find_user(session, user_id)
        count = revoke_families(session, user.id, reason="LOGOUT_ALL")
        user.token_version += 1  # access tokens already handed out stop working too
        return count
    if not refresh_token:
        raise ValidationFailed(
            "give the refresh token of the session to end, or allDevices", code="BAD_USER_INPUT"
        )
    token = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token))
    )
    if token is None:
        raise Unauthenticated("unknown refresh token", code=UserCode.INVALID_REFRESH_TOKEN)
    if viewer.user_id is not None and viewer.user_id != token.user_id and not viewer.is_admin:
        raise Forbidden("this is not your session", code="FORBIDDEN")
    return revoke_families(session, token.user_id, reason="LOGOUT", family_id=token.family_id)
