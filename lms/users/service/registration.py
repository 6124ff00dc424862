"""Registration: sign-up checks before the password hash, accounts, the operator's admin."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms import audit
from lms.config import Settings, get_settings
from lms.errors import Conflict, Forbidden
from lms.models import utcnow
from lms.security import Viewer
from lms.users.errors import UserCode
from lms.users.models import Role, User
from lms.users.service.common import clean_name, normalize_email
from lms.users.service.sessions import AuthResult, issue_tokens
from lms.users.service.tokens import send_verification


SELF_SERVICE_ROLES = (Role.STUDENT, Role.EDUCATOR)


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
        raise Conflict("an account with this email already exists", code=UserCode.EMAIL_TAKEN)
    return registration


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
        raise Conflict(
            "an account with this email already exists", code=UserCode.EMAIL_TAKEN
        ) from None
    send_verification(session, user, settings)
    if registration.by_admin:
        audit.record(
            session,
            actor_id=viewer.user_id,
            action="user.create",
            subject=("user", user.id),
            details={"role": user.role.value, "email": user.email},
            ip=ip,
        )
    return issue_tokens(session, user, ip=ip, settings=settings)


def create_admin(session: Session, *, email: str, name: str, password_hash: str) -> User:
    """An admin account from the operator's `lms create-admin` (no viewer: the system acts)."""
    email, name = normalize_email(email), clean_name(name)
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict("an account with this email already exists", code=UserCode.EMAIL_TAKEN)
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
