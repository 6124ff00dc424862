"""Fixed-window rate limits, shared by every API process through Redis when configured.

`LMS_REDIS_URL` set: counters live in Redis (INCR + EXPIRE in one transaction), so all API
processes see one count. Unset: counters live in this process (the embedded default, one
API process). A limit is "COUNT/SECONDS"; going over it raises `RateLimited` with code
`RATE_LIMITED` and `retryAfter` (whole seconds until the window ends).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from dataclasses import dataclass

from lms.config import Settings
from lms.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, spec: str) -> Limit:
        count, seconds = spec.split("/", 1)
        return cls(int(count), max(1, int(seconds)))


def _exceeded(what: str, retry_after: float) -> RateLimited:
    seconds = max(1, math.ceil(retry_after))
    return RateLimited(
        f"too many {what} attempts; try again in {seconds} s",
        code="RATE_LIMITED",
        retryAfter=seconds,
    )


def _key_part(value: str) -> str:
    """Keys never carry raw emails or tokens (Redis dumps, logs): hash them."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class MemoryBackend:
    """Counters in this process; expired windows are pruned as the table grows."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    async def incr(self, key: str, seconds: int) -> tuple[int, float]:
        return self._incr(key, seconds, 1)

    async def peek(self, key: str) -> tuple[int, float]:
        return self._incr(key, 0, 0)

    async def reset(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    async def put(self, key: str, value: int, seconds: float) -> None:
        with self._lock:
            self._windows[key] = (value, time.monotonic() + seconds)

    def _incr(self, key: str, seconds: int, by: int) -> tuple[int, float]:
        now = time.monotonic()
        with self._lock:
            if len(self._windows) > 50_000:
                self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + seconds
            if by:
                count += by
                self._windows[key] = (count, ends)
            return count, max(0.0, ends - now)


class RedisBackend:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def incr(self, key: str, seconds: int) -> tuple[int, float]:
        async with self._client.pipeline(transaction=True) as pipe:
            # NX: the window starts with the first hit and is not extended by later ones.
            pipe.incr(key).expire(key, seconds, nx=True).pttl(key)
            count, _, ttl_ms = await pipe.execute()
        return int(count), max(0, ttl_ms) / 1000

    async def peek(self, key: str) -> tuple[int, float]:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(key).pttl(key)
            count, ttl_ms = await pipe.execute()
        return int(count or 0), max(0, ttl_ms) / 1000

    async def reset(self, key: str) -> None:
        await self._client.delete(key)

    async def put(self, key: str, value: int, seconds: float) -> None:
        await self._client.set(key, value, px=max(1, int(seconds * 1000)))


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.rate_limit_prefix
        self.backend = RedisBackend(settings.redis_url) if settings.redis_url else MemoryBackend()

    def _key(self, scope: str, subject: str) -> str:
        return f"{self.prefix}{scope}:{_key_part(subject)}"

    def limit(self, name: str) -> Limit:
        return Limit.parse(getattr(self.settings, f"rate_{name}"))

    async def hit(self, name: str, subject: str | None, *, what: str | None = None) -> None:
        """Count one attempt of `name` (e.g. "login_ip") by `subject`; raise when over."""
        if not subject:
            return
        limit = self.limit(name)
        count, retry_after = await self.backend.incr(self._key(name, subject), limit.seconds)
        if count > limit.count:
            raise _exceeded(what or name.split("_")[0], retry_after)

    async def check(self, name: str, subject: str | None, *, what: str | None = None) -> None:
        """Raise if `subject` is already at the limit, without counting an attempt."""
        if not subject:
            return
        limit = self.limit(name)
        count, retry_after = await self.backend.peek(self._key(name, subject))
        if count >= limit.count:
            raise _exceeded(what or name.split("_")[0], retry_after)

    async def reset(self, name: str, subject: str) -> None:
        await self.backend.reset(self._key(name, subject))

    async def count(self, name: str, subject: str) -> tuple[int, float]:
        """The current count of `subject` under `name` and the seconds its window has left."""
        return await self.backend.peek(self._key(name, subject))

    async def add(self, name: str, subject: str, seconds: int) -> int:
        """Count one more for `subject` in a window of `seconds`; the new count."""
        count, _ = await self.backend.incr(self._key(name, subject), seconds)
        return count

    async def hold(self, name: str, subject: str, seconds: float) -> None:
        """Mark `subject` under `name` for `seconds` (a delay or lock): see `count`."""
        await self.backend.put(self._key(name, subject), 1, seconds)


_limiters: dict[tuple[int, int], RateLimiter] = {}


def limiter_for(settings: Settings) -> RateLimiter:
    """One limiter per settings object and event loop (Redis connections belong to a loop)."""
    try:
        loop_id = id(asyncio.get_running_loop())
    except RuntimeError:
        loop_id = 0
    key = (id(settings), loop_id)
    if key not in _limiters:
        _limiters[key] = RateLimiter(settings)
    return _limiters[key]
