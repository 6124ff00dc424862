"""Per-request context: settings, the viewer, database access, the event hub.

Over HTTP a request has one database session, taken in turn by its resolvers
(`web.request_session`); a context without one (websocket subscriptions, which live for
hours) opens a short session per service call instead. Either way resolvers never use one
AsyncSession at the same time (graphql-core runs siblings concurrently).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.errors import Unauthenticated
from lms.security import ANONYMOUS, Viewer, decode_access_token, viewer_for
from lms.users.models import User
from web.dataloaders import Loaders
from web.events import EventHub
from web.request_session import RequestSession

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
    db: RequestSession | None = None  # the HTTP request's session; None: short sessions
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's dataloaders (batched reads, the batches of a moment in one call)."""
        if self._loaders is None:
            # Not `self.run_sync`: a bound method would make this context and its loaders a
            # reference cycle, freed by the garbage collector instead of as the request ends.
            read = functools.partial(_run_sync, self.db, self.services.sessions)
            self._loaders = Loaders(read, self.viewer)
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

    async def run_sync(self, call: Callable[[Session], T]) -> T:
        """`call(session)` for reading: in the request's session, else a short one."""
        return await _run_sync(self.db, self.services.sessions, call)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync service function for reading."""
        return await self.run_sync(lambda sync: fn(sync, *args, **kwargs))

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync service function in a transaction and commit it here, at the edge."""
        call = lambda sync: fn(sync, *args, **kwargs)  # noqa: E731
        if self.db is not None:
            result = await self.db.write(call)
        else:
            async with self.services.sessions() as session, session.begin():
                result = await session.run_sync(call)
        self._loaders = None  # reads cached before this write are stale now
        return result


async def _run_sync(
    db: RequestSession | None,
    sessions: async_sessionmaker[AsyncSession],
    call: Callable[[Session], T],
) -> T:
    if db is not None:
        return await db.read(call)
    async with sessions() as session:
        return await session.run_sync(call)


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
    services: Services, token: str | None, db: RequestSession | None = None
) -> tuple[Viewer, Unauthenticated | None]:
    """Resolve a bearer token to a viewer; a bad token yields anonymous plus the error.

    With the request's session the user row is read there, and stays in its identity map
    for the services that look the viewer up again."""
    if not token:
        return ANONYMOUS, None
    try:
        claims = decode_access_token(token, services.settings)
        if db is not None:
            user = await db.read(lambda session: session.get(User, claims.user_id))
        else:
            async with services.sessions() as session:
                user = await session.get(User, claims.user_id)
        return viewer_for(claims, user), None
    except Unauthenticated as error:
        return ANONYMOUS, error
