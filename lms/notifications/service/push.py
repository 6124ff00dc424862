"""Web push: browsers' subscriptions (registered through the API) and the VAPID key."""

from __future__ import annotations

import base64
import functools
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.models import utcnow
from lms.notifications import errors
from lms.notifications.models import PushSubscription
from lms.notifications.settings import notifications_settings
from lms.security import Viewer, require_authenticated

P256DH_BYTES = 65  # an uncompressed P-256 point
AUTH_BYTES = 16


def _b64url(value: Any, name: str, size: int) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise errors.invalid_push_subscription(f"keys.{name} is missing")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise errors.invalid_push_subscription(f"keys.{name} is not base64url") from None
    if len(raw) != size or (name == "p256dh" and raw[0] != 4):
        raise errors.invalid_push_subscription(f"keys.{name} is not a {size}-byte key")
    return value.rstrip("=")


def _endpoint(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise errors.invalid_push_subscription("endpoint must be a URL of at most 2000 characters")
    parts = urlsplit(value)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    # Push services are https; plain http only for a push service on this machine (tests, dev).
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise errors.invalid_push_subscription("endpoint must be an https URL")
    return value


def subscription_view(s: PushSubscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "endpoint": s.endpoint,
        "user_agent": s.user_agent,
        "created_at": s.created_at,
        "last_used_at": s.last_used_at,
    }


def register_push_subscription(
    session: Session, viewer: Viewer, *, input: dict[str, Any]
) -> dict[str, Any]:
    """Store a browser's subscription (`PushSubscription.toJSON()`); the same endpoint again
    updates its keys, and moves it to the viewer (one browser, one account at a time)."""
    user_id = require_authenticated(viewer)
    endpoint = _endpoint(input.get("endpoint"))
    keys = input.get("keys") or {}
    # The API's snake-case conversion spells the browser's `p256dh` as `p_256_dh`.
    p256dh = _b64url(keys.get("p256dh", keys.get("p_256_dh")), "p256dh", P256DH_BYTES)
    auth = _b64url(keys.get("auth"), "auth", AUTH_BYTES)
    existing = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if existing is None:
        existing = PushSubscription(endpoint=endpoint, created_at=utcnow())
        session.add(existing)
    existing.user_id, existing.p256dh, existing.auth = user_id, p256dh, auth
    existing.user_agent = (input.get("user_agent") or None) and input["user_agent"][:300]
    session.flush()
    return subscription_view(existing)


def remove_push_subscription(session: Session, viewer: Viewer, *, endpoint: str) -> bool:
    user_id = require_authenticated(viewer)
    removed = session.execute(
        delete(PushSubscription).where(
            PushSubscription.endpoint == endpoint, PushSubscription.user_id == user_id
        )
    ).rowcount
    return bool(removed)


def my_push_subscriptions(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    user_id = require_authenticated(viewer)
    rows = session.scalars(
        select(PushSubscription)
        .where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.created_at)
    )
    return [subscription_view(s) for s in rows]


@functools.lru_cache(maxsize=1)
def vapid():
    """The server's VAPID key: configured, or made once under LMS_VAR_DIR (embedded default)."""
    from py_vapid import Vapid02

    configured = notifications_settings().vapid_private_key.strip()
    if configured:
        if configured.startswith("-----BEGIN"):
            return Vapid02.from_pem(configured.encode())
        return Vapid02.from_string(configured)
    path = get_settings().var_dir / "vapid_private.pem"
    if not path.exists():
        key = Vapid02()
        key.generate_keys()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Exclusive create: two processes racing keep the first key.
        try:
            with open(path, "xb") as file:
                file.write(key.private_pem())
        except FileExistsError:
            pass
    return Vapid02.from_file(str(path))


def vapid_public_key() -> str:
    """`applicationServerKey` for `PushManager.subscribe` (base64url, uncompressed point)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = vapid().public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def gone(session: Session, subscription_id: uuid.UUID) -> None:
    session.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id))
