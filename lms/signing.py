"""Signed, expiring links: an HMAC over a path and its expiry, keyed by the secret key.

`signed_path("exports/x.csv", 3600)` → `/files/exports/x.csv?expires=…&signature=…`;
`verify(path, expires, signature)` checks it in constant time. Each purpose derives its own
key, so a signature made for one use cannot be replayed for another.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from lms.config import Settings, get_settings
from lms.errors import Forbidden

FILES_PREFIX = "/files/"


class SignatureInvalid(Forbidden):
    code = "SIGNATURE_INVALID"


class LinkExpired(Forbidden):
    code = "LINK_EXPIRED"


def _key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(
        settings.secret_key.encode(), f"lms.signing.{purpose}".encode(), hashlib.sha256
    ).digest()


def sign(
    path: str, expires: int, *, purpose: str = "files", settings: Settings | None = None
) -> str:
    settings = settings or get_settings()
    message = f"{path}\n{expires}".encode()
    return hmac.new(_key(settings, purpose), message, hashlib.sha256).hexdigest()


def verify(
    path: str,
    expires: str | None,
    signature: str | None,
    *,
    purpose: str = "files",
    settings: Settings | None = None,
    now: float | None = None,
) -> None:
    """Raise SignatureInvalid or LinkExpired unless the link is genuine and current."""
    if not expires or not signature or not expires.isdigit():
        raise SignatureInvalid("this link is not signed")
    expected = sign(path, int(expires), purpose=purpose, settings=settings)
    if not hmac.compare_digest(expected, signature):
        raise SignatureInvalid("this link's signature does not match")
    if int(expires) < (time.time() if now is None else now):
        raise LinkExpired("this link has expired")


def signed_path(
    key: str, ttl_seconds: int, *, settings: Settings | None = None, now: float | None = None
) -> tuple[str, datetime]:
    """The `/files/…` path (with query) of a stored file, and when it expires."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    signature = sign(key, expires, settings=settings)
    query = urlencode({"expires": expires, "signature": signature})
    return f"{FILES_PREFIX}{quote(key)}?{query}", datetime.fromtimestamp(expires, UTC)
