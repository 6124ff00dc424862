"""Presence and typing: ephemeral, never a database row per heartbeat.

Presence per course is a sorted set scored by expiry (Redis `ZADD`, shared by every API
process) or the same in this process's memory on the embedded default (one API process).
A heartbeat refreshes the score; only entering and leaving are broadcast, batched per
course about once a second by a flusher task in each API process. Whoever removes an
expired member (`ZREM` answers 1 to one process only) broadcasts that leave, so a leave
goes out once. Large courses (`presence_count_only_above`) broadcast counts, not names.

Typing is not stored at all: an event with a server TTL (the client stops showing it when
it is not refreshed), duplicates closer than the refresh interval dropped, and a flood from
one client refused by a rate limit (`RATE_LIMITED`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lms.communication import events
from lms.communication.settings import communication_settings
from lms.config import Settings
from lms.errors import RateLimited
from lms.models import utcnow
from lms.ratelimit import limiter_for

log = logging.getLogger(__name__)
GLOBAL = "global"  # presence without a course: kept, never broadcast


class MemoryPresence:
    def __init__(self) -> None:
        self._courses: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
        self._lock = threading.Lock()

    async def beat(self, course: str, user: str, status: str, ttl: float) -> bool:
        now = time.time()
        with self._lock:
            previous = self._courses[course].get(user)
            self._courses[course][user] = (now + ttl, status)
        return previous is None or previous[0] <= now

    async def leave(self, course: str, user: str) -> bool:
        with self._lock:
            gone = self._courses[course].pop(user, None)
        return gone is not None and gone[0] > time.time()

    async def expire(self, course: str) -> list[str]:
        now = time.time()
        with self._lock:
            members = self._courses.get(course, {})
            gone = [u for u, (expiry, _) in members.items() if expiry <= now]
            for user in gone:
                del members[user]
        return gone

    async def members(self, course: str) -> list[tuple[str, str]]:
        now = time.time()
        with self._lock:
            members = dict(self._courses.get(course, {}))
        return [(u, status) for u, (expiry, status) in members.items() if expiry > now]

    async def count(self, course: str) -> int:
        return len(await self.members(course))


class RedisPresence:
    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as redis

        # A bounded pool that waits for a free connection: a burst of heartbeats queues up
        # instead of failing with "Too many connections".
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=32, timeout=5, socket_timeout=2, socket_connect_timeout=2
        )
        self._client = redis.Redis(connection_pool=pool)
        self._prefix = prefix

    def _keys(self, course: str) -> tuple[str, str]:
        return f"{self._prefix}presence:{course}", f"{self._prefix}presence-status:{course}"

    async def beat(self, course: str, user: str, status: str, ttl: float) -> bool:
        scores, statuses = self._keys(course)
        now = time.time()
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zscore(scores, user).zadd(scores, {user: now + ttl}).hset(statuses, user, status)
            # The sets go with the course's last member (no heartbeat for ten TTLs).
            keep = max(60, int(ttl) * 10)
            pipe.expire(scores, keep).expire(statuses, keep)
            previous, *_ = await pipe.execute()
        return previous is None or float(previous) <= now

    async def leave(self, course: str, user: str) -> bool:
        scores, statuses = self._keys(course)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zscore(scores, user).zrem(scores, user).hdel(statuses, user)
            previous, removed, _ = await pipe.execute()
        return bool(removed) and previous is not None and float(previous) > time.time()

    async def expire(self, course: str) -> list[str]:
        scores, statuses = self._keys(course)
        expired = await self._client.zrangebyscore(scores, "-inf", time.time())
        gone = []
        for raw in expired:
            if await self._client.zrem(scores, raw):  # one process wins each leave
                await self._client.hdel(statuses, raw)
                gone.append(raw.decode() if isinstance(raw, bytes) else raw)
        return gone

    async def members(self, course: str) -> list[tuple[str, str]]:
        scores, statuses = self._keys(course)
        users = await self._client.zrangebyscore(scores, time.time(), "+inf")
        if not users:
            return []
        states = await self._client.hmget(statuses, users)
        return [(u.decode(), (s or b"ONLINE").decode()) for u, s in zip(users, states, strict=True)]

    async def count(self, course: str) -> int:
        scores, _ = self._keys(course)
        return int(await self._client.zcount(scores, time.time(), "+inf"))


@dataclass
class _Pending:
    entered: dict[str, str] = field(default_factory=dict)
    left: set[str] = field(default_factory=set)


class Presence:
    """One per API process and event loop: the store and the batching flusher."""

    def __init__(self, settings: Settings, *, autoflush: bool = True) -> None:
        self.settings = settings
        self.autoflush = autoflush  # False: the caller flushes (benchmarks, tests)
        self.store = (
            RedisPresence(settings.redis_url, settings.rate_limit_prefix)
            if settings.redis_url
            else MemoryPresence()
        )
        self._pending: dict[str, _Pending] = defaultdict(_Pending)
        self._watched: set[str] = set()  # courses with heartbeats here: expiry is checked
        self._flusher: asyncio.Task | None = None
        self.broadcasts = 0

    def _start(self) -> None:
        if not self.autoflush:
            return
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(communication_settings().presence_batch_seconds)
            try:
                await self.flush()
            except Exception:  # Redis away for a moment: the next round tries again
                log.warning("presence flush failed", exc_info=True)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()

    async def flush(self) -> int:
        """Broadcast what changed per course since the last flush; the number of broadcasts."""
        for course in list(self._watched):
            for user in await self.store.expire(course):
                self._pending[course].left.add(user)
                self._pending[course].entered.pop(user, None)
        pending, self._pending = self._pending, defaultdict(_Pending)
        payloads = []
        limit = communication_settings().presence_count_only_above
        at = utcnow().isoformat()
        for course, change in pending.items():
            if not change.entered and not change.left:
                continue
            count = await self.store.count(course)
            names = count <= limit
            payloads.append(
                {
                    "courseId": course,
                    "entered": [{"userId": u, "status": s} for u, s in change.entered.items()]
                    if names
                    else [],
                    "left": sorted(change.left) if names else [],
                    "count": count,
                    "at": at,
                }
            )
        events.publish_now(events.PRESENCE, payloads)
        self.broadcasts += len(payloads)
        return len(payloads)

    async def update(self, course: str | None, user: str, status: str) -> dict[str, Any]:
        ttl = communication_settings().presence_ttl_seconds
        key = course or GLOBAL
        if status == "OFFLINE":
            changed = await self.store.leave(key, user)
            if changed and course:
                self._pending[course].left.add(user)
                self._pending[course].entered.pop(user, None)
            ttl = 0
        else:
            entered = await self.store.beat(key, user, status, ttl)
            if course:
                self._watched.add(course)
                if entered:
                    self._pending[course].entered[user] = status
                    self._pending[course].left.discard(user)
        if course:
            self._start()
        return {"userId": user, "status": status, "courseId": course, "expiresInSeconds": ttl}

    async def course(self, course: str) -> dict[str, Any]:
        members = await self.store.members(course)
        count_only = len(members) > communication_settings().presence_count_only_above
        return {
            "courseId": course,
            "count": len(members),
            "users": [] if count_only else [{"userId": u, "status": s} for u, s in members],
            "countOnly": count_only,
        }


_presences: dict[tuple[int, int], Presence] = {}


def presence_for(settings: Settings) -> Presence:
    """One per settings object and event loop (Redis connections belong to a loop)."""
    loop = id(asyncio.get_running_loop())
    key = (id(settings), loop)
    if key not in _presences:
        _presences[key] = Presence(settings)
    return _presences[key]


# --- typing ---------------------------------------------------------------------------------------

_last_typing: dict[tuple[str, str, bool], float] = {}
_typing_lock = threading.Lock()


def typing_scope(conversation_id: str | None, thread_id: str | None) -> str:
    return f"conversation-{conversation_id}" if conversation_id else f"thread-{thread_id}"


async def typing(
    settings: Settings,
    *,
    user: str,
    conversation_id: str | None,
    thread_id: str | None,
    is_typing: bool,
) -> dict[str, Any]:
    """Broadcast a typing change (authorized by the caller): rate limited per user, repeats
    within the refresh interval dropped. Nothing is stored."""
    config = communication_settings()
    limiter = limiter_for(settings)
    limit_count, limit_seconds = (int(x) for x in config.typing_rate.split("/"))
    count = await limiter.add("typing", user, limit_seconds)
    if count > limit_count:
        raise RateLimited(
            "too many typing events; slow down", code="RATE_LIMITED", retryAfter=limit_seconds
        )
    scope = typing_scope(conversation_id, thread_id)
    event = {
        "scope": scope,
        "userId": user,
        "conversationId": conversation_id,
        "threadId": thread_id,
        "isTyping": is_typing,
        "expiresInSeconds": config.typing_ttl_seconds if is_typing else 0,
    }
    now = time.monotonic()
    with _typing_lock:
        if len(_last_typing) > 50_000:
            _last_typing.clear()
        last = _last_typing.get((scope, user, is_typing))
        fresh = last is None or now - last >= config.typing_refresh_seconds
        if fresh:
            _last_typing[(scope, user, is_typing)] = now
            _last_typing.pop((scope, user, not is_typing), None)
    if fresh:
        events.publish_now(events.TYPING, [event])
    return event
