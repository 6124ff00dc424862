"""Accounts: registration, sessions (refresh-token families), emailed tokens, profiles.

Plain sync functions on a session; they validate and authorize and never commit. Password
hashing is not done here: it is slow on purpose, so `lms.users.flows` hashes off the event
loop and hands the hash in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import unicodedata
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms import audit
from lms.storage import signing
from lms.config import Settings, get_settings
from lms.errors import (
    Conflict,
    Forbidden,
    LmsError,
    NotFound,
    PermanentJobError,
    Unauthenticated,
    ValidationFailed,
)
from lms.jobs.service import enqueue
from lms.mail.jobs import request_email
from lms.mail.templates import parse_address
from lms.models import utcnow
from lms.security import Viewer, issue_access_token, require_authenticated
from lms.users import avatars
from lms.users.models import (
    AvatarStatus,
    OneTimeToken,
    ProfileVisibility,
    RefreshToken,
    Role,
    TokenPurpose,
    User,
)
from lms.users.permissions import require_verified_email, shares_course

SELF_SERVICE_ROLES = (Role.STUDENT, Role.EDUCATOR)
MAX_NAME = 200
MAX_BIO = 2000
AVATAR_JOB = "users.avatar_resize"


# --- small helpers ------------------------------------------------------------------------


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
        raise ValidationFailed("this is not a valid email address", code="INVALID_EMAIL")
    try:
        parse_address(email, code="INVALID_EMAIL", what="email")
    except PermanentJobError:
        raise ValidationFailed("this is not a valid email address", code="INVALID_EMAIL") from None
    return email


def clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > MAX_NAME or any(unicodedata.category(c) == "Cc" for c in name):
        raise ValidationFailed(
            f"the name must have 1 to {MAX_NAME} characters", code="INVALID_NAME"
        )
    return name


def _user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", code="NOT_FOUND")
    return user


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.links_base}/{path}?token={token}"


# --- views ----------------------------------------------------------------------------------


def preferences_view(session: Session, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """A user's channels per notification type: lms.notifications owns the rules."""
    from lms.notifications.service import preferences_view as view

    return view(session, user_id)


def avatar_view(user: User) -> dict[str, Any] | None:
    if user.avatar_status == AvatarStatus.NONE or not user.avatar_key:
        return None
    ready = user.avatar_status == AvatarStatus.READY
    return {
        "status": user.avatar_status.value,
        "images": avatars.image_keys(user.avatar_key) if ready else [],
    }


def user_view(session: Session, user: User, *, full: bool) -> dict[str, Any]:
    """What a viewer may see: everything (`full`: the user, admins) or the public profile."""
    view: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "role": user.role.value,
        "bio": user.bio,
        "avatar": avatar_view(user),
        "created_at": user.created_at,
        "email": None,
        "email_verified": None,
        "timezone": None,
        "language": None,
        "profile_visibility": None,
    }
    if full:
        view.update(
            email=user.email,
            email_verified=user.email_verified,
            timezone=user.timezone,
            language=user.language,
            profile_visibility=user.profile_visibility.value,
        )
    # Preferences are one more query: loaded by the API only when a client asks for them.
    view["private_fields"] = full
    return view


@dataclass(frozen=True)
class AuthResult:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: dict[str, Any]


# --- sessions (refresh-token families) ------------------------------------------------------


def _issue(
    session: Session,
    user: User,
    *,
    ip: str | None,
    family_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    raw: str | None = None,
) -> AuthResult:
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


def _revoke_everything(session: Session, user: User, reason: str) -> None:
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
    user = _user(session, user_id)
    if new_hash:  # cost settings went up since this hash was made
        user.password_hash = new_hash
    return _issue(session, user, ip=ip)


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
        return Unauthenticated("unknown refresh token", code="INVALID_REFRESH_TOKEN")
    if token.revoked_at is not None:
        return Unauthenticated(
            "this session was signed out; sign in again", code="REFRESH_TOKEN_REVOKED"
        )
    if token.rotated_at is not None:
        again = _within_grace(session, token, raw_token)
        if again is not None:
            return again
        revoke_families(session, token.user_id, reason="REUSE", family_id=token.family_id)
        return Unauthenticated(
            "this refresh token was already used; the session is revoked, sign in again",
            code="REFRESH_TOKEN_REUSED",
        )
    if token.expires_at <= utcnow():
        return Unauthenticated(
            "the refresh token expired; sign in again", code="REFRESH_TOKEN_EXPIRED"
        )
    token.rotated_at = utcnow()
    user = _user(session, token.user_id)
    return _issue(session, user, ip=ip, family_id=token.family_id, raw=_successor(raw_token, None))


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
    user = _user(session, token.user_id)
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
        user = _user(session, user_id)
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
        raise Unauthenticated("unknown refresh token", code="INVALID_REFRESH_TOKEN")
    if viewer.user_id is not None and viewer.user_id != token.user_id and not viewer.is_admin:
        raise Forbidden("this is not your session", code="FORBIDDEN")
    return revoke_families(session, token.user_id, reason="LOGOUT", family_id=token.family_id)


# --- registration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    email: str
    name: str
    role: Role
    by_admin: bool


def check_registration(
    session: Session, viewer: Viewer, *, email: str, name: str, role: str
) -> Registration:
    """Validate a sign-up before the (slow) password hash is computed."""
    wanted = Role(role)
    if wanted not in SELF_SERVICE_ROLES and not viewer.is_admin:
        raise Forbidden("only an admin can create admin accounts", code="FORBIDDEN")
    registration = Registration(normalize_email(email), clean_name(name), wanted, viewer.is_admin)
    if session.scalar(
        select(func.count()).select_from(User).where(User.email == registration.email)
    ):
        raise Conflict("an account with this email already exists", code="EMAIL_TAKEN")
    return registration


def _send_verification(session: Session, user: User, settings: Settings) -> None:
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
        context={"name": user.name, "verify_url": _link(settings, "verify-email", raw)},
        subject=("user", user.id),
    )


def create_account(
    session: Session,
    viewer: Viewer,
    registration: Registration,
    *,
    password_hash: str,
    ip: str | None = None,
    settings: Settings | None = None,
) -> AuthResult:
    """Insert the account, send the verification email (a job) and open a session."""
    settings = settings or get_settings()
    user = User(
        email=registration.email,
        name=registration.name,
        role=registration.role,
        password_hash=password_hash,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        raise Conflict("an account with this email already exists", code="EMAIL_TAKEN") from None
    _send_verification(session, user, settings)
    if registration.by_admin:
        audit.record(
            session,
            actor_id=viewer.user_id,
            action="user.create",
            subject=("user", user.id),
            details={"role": user.role.value, "email": user.email},
            ip=ip,
        )
    return _issue(session, user, ip=ip, settings=settings)


def create_admin(session: Session, *, email: str, name: str, password_hash: str) -> User:
    """An admin account from the operator's `lms create-admin` (no viewer: the system acts)."""
    email, name = normalize_email(email), clean_name(name)
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict("an account with this email already exists", code="EMAIL_TAKEN")
    user = User(
        email=email,
        name=name,
        role=Role.ADMIN,
        password_hash=password_hash,
        created_at=utcnow(),
        email_verified_at=utcnow(),  # the operator vouches for it
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="user.create_admin",
        subject=("user", user.id),
        details={"email": email, "via": "cli"},
    )
    return user


# --- emailed tokens ---------------------------------------------------------------------------


def _valid_token(
    session: Session, raw: str, purpose: TokenPurpose, *, lock: bool = False
) -> OneTimeToken:
    query = select(OneTimeToken).where(
        OneTimeToken.token_hash == token_hash(raw or ""), OneTimeToken.purpose == purpose
    )
    token = session.scalar(query.with_for_update() if lock else query)
    if token is None:
        raise ValidationFailed("this link is not valid; ask for a new one", code="INVALID_TOKEN")
    if token.used_at is not None:
        raise ValidationFailed("this link was already used; ask for a new one", code="TOKEN_USED")
    if token.expires_at <= utcnow():
        raise ValidationFailed("this link expired; ask for a new one", code="TOKEN_EXPIRED")
    return token


def verify_email(
    session: Session, *, token: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Confirm the address the token was sent to; send the welcome email the first time."""
    settings = settings or get_settings()
    record = _valid_token(session, token, TokenPurpose.VERIFY_EMAIL, lock=True)
    record.used_at = utcnow()
    user = _user(session, record.user_id)
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
    user = _user(session, require_authenticated(viewer))
    if user.email_verified_at is not None:
        return False
    _send_verification(session, user, settings or get_settings())
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
            "reset_url": _link(settings, "reset-password", raw),
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
    user = _user(session, user_id)
    request_email(
        session,
        template="unlock_sign_in",
        to=user.email,
        context={
            "name": user.name,
            "source": ip or "an unknown address",
            "failures": settings.login_lock_failures,
            "lock_minutes": max(1, settings.login_lock_seconds // 60),
            "unlock_url": _link(settings, "unlock-sign-in", _unlock_token(user.id, settings)),
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
    return _user(session, user_id).email


def reset_target(session: Session, *, token: str) -> str:
    """The email of the account a valid reset token belongs to (for the strength rule)."""
    record = _valid_token(session, token, TokenPurpose.RESET_PASSWORD)
    return _user(session, record.user_id).email


def reset_password(session: Session, *, token: str, password_hash: str) -> bool:
    """Set the new password, spend the token, and sign out every session."""
    record = _valid_token(session, token, TokenPurpose.RESET_PASSWORD, lock=True)
    record.used_at = utcnow()
    user = _user(session, record.user_id)
    user.password_hash = password_hash
    if user.email_verified_at is None:  # the link reached the inbox: the address is theirs
        user.email_verified_at = utcnow()
    _revoke_everything(session, user, reason="PASSWORD_RESET")
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


# --- profiles ---------------------------------------------------------------------------------


def contacts(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    """Email, name and time zone of many users, for modules that address them (notifications)."""
    rows = session.execute(
        select(User.id, User.email, User.name, User.timezone).where(User.id.in_(user_ids))
    )
    return {
        row.id: {"email": row.email, "name": row.name, "timezone": row.timezone} for row in rows
    }


def member_facts(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Name, role and account creation time of many users (messaging rules, rate limits)."""
    rows = session.execute(
        select(User.id, User.name, User.role, User.created_at).where(User.id.in_(user_ids))
    )
    return {
        row.id: {"name": row.name, "role": row.role, "created_at": row.created_at} for row in rows
    }


def me(session: Session, viewer: Viewer) -> dict[str, Any]:
    user = session.get(User, require_authenticated(viewer))
    if user is None:
        raise Unauthenticated("this account no longer exists")
    return user_view(session, user, full=True)


def get_user(session: Session, viewer: Viewer, user_id: str) -> dict[str, Any]:
    """A profile as `viewer` may see it: all of it for the owner and admins; for others what
    the profile's visibility allows, and never the email."""
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("no such user", code="NOT_FOUND") from None
    user = _user(session, key)
    if viewer.is_admin or viewer.user_id == user.id:
        return user_view(session, user, full=True)
    visible = user.profile_visibility == ProfileVisibility.PUBLIC or (
        user.profile_visibility == ProfileVisibility.ENROLLED_ONLY
        and viewer.user_id is not None
        and shares_course(session, viewer.user_id, user.id)
    )
    if not visible:
        raise Forbidden("this profile is private", code="FORBIDDEN", reason="PROFILE_PRIVATE")
    return user_view(session, user, full=False)


def _check_timezone(value: str) -> str:
    value = value.strip()
    if value not in zoneinfo.available_timezones():
        raise ValidationFailed(
            f"unknown time zone {value!r} (use an IANA name like Europe/Paris)",
            code="INVALID_TIMEZONE",
        )
    return value


def _check_language(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}", value):
        raise ValidationFailed(
            f"{value!r} is not a language tag (like en or pt-BR)", code="INVALID_LANGUAGE"
        )
    return value


def update_profile(
    session: Session,
    viewer: Viewer,
    *,
    fields: dict[str, Any],
    ip: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Change a profile: your own, or anyone's as an admin (audited). Roles: admins only."""
    settings = settings or get_settings()
    actor = require_authenticated(viewer)
    target_id = uuid.UUID(str(fields["user_id"])) if fields.get("user_id") else actor
    if target_id != actor and not viewer.is_admin:
        raise Forbidden("you may only change your own profile", code="FORBIDDEN")
    user = _user(session, target_id)
    changes: dict[str, Any] = {}

    if fields.get("role") is not None and Role(fields["role"]) != user.role:
        if not viewer.is_admin:
            raise Forbidden("only an admin can change roles", code="FORBIDDEN")
        if target_id == actor:
            raise Forbidden(
                "admins cannot change their own role; ask another admin", code="FORBIDDEN"
            )
        changes["role"] = [user.role.value, fields["role"]]
        user.role = Role(fields["role"])
        _revoke_everything(session, user, reason="ROLE_CHANGED")  # tokens carry the role
    if fields.get("name") is not None:
        user.name = clean_name(fields["name"])
        changes["name"] = user.name
    if "bio" in fields:
        bio = (fields["bio"] or "").strip() or None
        if bio and len(bio) > MAX_BIO:
            raise ValidationFailed(
                f"the bio must have at most {MAX_BIO} characters", code="BIO_TOO_LONG"
            )
        user.bio = bio
        changes["bio"] = True
    if fields.get("timezone") is not None:
        user.timezone = changes["timezone"] = _check_timezone(fields["timezone"])
    if fields.get("language") is not None:
        user.language = changes["language"] = _check_language(fields["language"])
    if fields.get("profile_visibility") is not None:
        user.profile_visibility = ProfileVisibility(fields["profile_visibility"])
        changes["profile_visibility"] = user.profile_visibility.value
    if fields.get("remove_avatar"):
        user.avatar_key, user.avatar_status = None, AvatarStatus.NONE
        changes["avatar"] = None
    if fields.get("avatar_data_url"):
        # A public picture: only from confirmed addresses (spam); checked by content.
        if target_id == actor:
            require_verified_email(session, viewer)
        upload = avatars.parse_data_url(fields["avatar_data_url"], settings)
        key = avatars.new_key(user.id)
        avatars.save_original(key, upload.data, settings)
        user.avatar_key, user.avatar_status = key, AvatarStatus.PROCESSING
        enqueue(
            session,
            AVATAR_JOB,
            {"user_id": str(user.id), "key": key},
            subject=("user", user.id),
            requested_by_id=actor,
            settings=settings,
        )
        changes["avatar"] = key
    user.updated_at = utcnow()
    if target_id != actor and changes:
        audit.record(
            session,
            actor_id=actor,
            action="user.update",
            subject=("user", user.id),
            details=changes,
            ip=ip,
        )
    return user_view(session, user, full=True)


def update_notification_preferences(
    session: Session,
    viewer: Viewer,
    **changes: Any,
) -> list[dict[str, Any]]:
    """Set channels per notification type: one implementation, in lms.notifications."""
    from lms.notifications.service import update_notification_preferences as update

    return update(session, viewer, **changes)
