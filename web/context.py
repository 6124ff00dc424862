"""Per-request context: settings, the viewer, short database sessions, the event hub.

Resolvers never share one AsyncSession (graphql-core runs siblings concurrently): each
service call opens its own short session through `run`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lms.config import Settings
from lms.errors import Unauthenticated
from lms.security import ANONYMOUS, Viewer, decode_access_token, viewer_for
from lms.users.models import User
from web.dataloaders import Loaders
from web.events import EventHub

T = TypeVar("T")


@dataclass
class Services:
    """Process-wide resources, created at start-up."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    hub: EventHub


@dataclass
class Context:
    services: Services
    viewer: Viewer = ANONYMOUS
    auth_error: Unauthenticated | None = None
    client_ip: str | None = None  # the peer address, for per-IP rate limits
    extras: dict[str, Any] = field(default_factory=dict)
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's dataloaders (batched reads, each batch in its own short session)."""
        if self._loaders is None:
            self._loaders = Loaders(self.services.sessions, self.viewer)
        return self._loaders

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def hub(self) -> EventHub:
        return self.services.hub

    def require_viewer(self) -> Viewer:
        """The viewer; a bad token is reported only when an operation needs identity."""
        if self.auth_error is not None:
            raise self.auth_error
        return self.viewer

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync service function in its own short read session."""
        async with self.services.sessions() as session:
            return await session.run_sync(lambda sync: fn(sync, *args, **kwargs))

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync service function in its own transaction and commit it here, at the edge."""
        async with self.services.sessions() as session, session.begin():
            result = await session.run_sync(lambda sync: fn(sync, *args, **kwargs))
        self._loaders = None  # reads cached before this write are stale now
        return result


def client_address(
    remote_addr: str | None, headers: Mapping[str, str], settings: Settings
) -> str | None:
    """The client's address for per-IP limits.

    `X-Forwarded-For` is believed only from a proxy listed in LMS_TRUSTED_PROXIES (anyone
    can send the header): walking it from the right, the first address that is not one of
    our proxies is the client.
    """
    if not settings.trusted_proxies:
        return remote_addr
    proxies = [ipaddress.ip_network(cidr, strict=False) for cidr in settings.trusted_proxies]

    def trusted(address: str | None) -> bool:
        try:
            return any(ipaddress.ip_address(address or "") in net for net in proxies)
        except ValueError:
            return False

    if not trusted(remote_addr):
        return remote_addr
    hops = [hop.strip() for hop in (headers.get("X-Forwarded-For") or "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote_addr  # a forged or garbled header: fall back to the peer
    return remote_addr


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(
    services: Services, token: str | None
) -> tuple[Viewer, Unauthenticated | None]:
    """Resolve a bearer token to a viewer; a bad token yields anonymous plus the error."""
    if not token:
        return ANONYMOUS, None
    try:
        claims = decode_access_token(token, services.settings)
        async with services.sessions() as session:
            user = await session.get(User, claims.user_id)
        return viewer_for(claims, user), None
    except Unauthenticated as error:
        return ANONYMOUS, error
