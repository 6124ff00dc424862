"""Access tokens, roles and the viewer: who is asking, and with which role.

Access tokens are short-lived HS256 JWTs carrying the role and the user's token version;
only HS256 is accepted (so `alg: none` and algorithm confusion are refused), and a token
whose version no longer matches the account (password changed, logout everywhere) fails.
Accounts themselves are the users domain's: this module sees them only as an `Account`.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import jwt

from lms.config import Settings, get_settings
from lms.errors import Forbidden, Unauthenticated
from lms.models import utcnow

ALGORITHM = "HS256"


class Role(enum.StrEnum):
    """Every account has one (stored on `users.role`); services check it through the viewer."""

    STUDENT = "STUDENT"
    EDUCATOR = "EDUCATOR"
    ADMIN = "ADMIN"
    # Sees every operator view (queues, jobs, workers, alerts, audit) but changes nothing.
    OPERATOR = "OPERATOR"


class Account(Protocol):
    """What tokens need of a user row (`lms.users.models.User`)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def role(self) -> Role: ...
    @property
    def token_version(self) -> int: ...


@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID | None = None
    role: Role | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


ANONYMOUS = Viewer()


def issue_access_token(user: Account, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "role": user.role.value,
        "ver": user.token_version,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=settings.access_token_minutes),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: Role
    token_version: int


def decode_access_token(token: str, settings: Settings | None = None) -> AccessClaims:
    settings = settings or get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "typ"]},
        )
        if claims["typ"] != "access":
            raise jwt.InvalidTokenError("not an access token")
        return AccessClaims(
            uuid.UUID(claims["sub"]), Role(claims["role"]), int(claims.get("ver", 0))
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("access token expired", code="TOKEN_EXPIRED") from None
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise Unauthenticated("invalid access token", code="UNAUTHENTICATED") from None


def viewer_for(claims: AccessClaims, user: Account | None) -> Viewer:
    """The viewer behind verified claims; a deleted user or a stale version is refused."""
    if user is None or user.token_version != claims.token_version:
        raise Unauthenticated("access token no longer valid", code="UNAUTHENTICATED")
    return Viewer(user.id, user.role)


def require_authenticated(viewer: Viewer) -> uuid.UUID:
    if viewer.user_id is None:
        raise Unauthenticated("sign in first")
    return viewer.user_id


def require_role(viewer: Viewer, *roles: Role) -> uuid.UUID:
    user_id = require_authenticated(viewer)
    if viewer.role not in roles:
        raise Forbidden("your role may not do this")
    return user_id
