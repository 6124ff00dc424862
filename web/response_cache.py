"""Whole-response cache for anonymous public catalog queries (`POST /graphql`).

A 20-card catalog page resolves thousands of fields (graphql-core costs about 5 µs each,
see DESIGN.md); the same page for every anonymous visitor is the same JSON, so it is kept
whole, per API process, and served without executing anything.

What is cached: requests with no `Authorization` header (every anonymous visitor gets the
same answer; a request with a token, even an invalid one, always executes) whose operation
is a `query` selecting only allowlisted root fields (`ALLOWED_ROOT_FIELDS`, fragments
included) and whose result is HTTP 200 with no `errors`.

Key: sha256 of (query text, operationName, variables with sorted keys) plus the catalog
version (`lms/courses/catalog_version.py`): one database row that every course, module or
lesson write bumps in its own transaction. Each cacheable request reads the committed
version (one primary-key lookup) before looking up or computing its answer, so a change
is visible to every API process as soon as it commits, with or without Redis, and an
answer computed while a write was committing is stored under the old version, which is
never looked up again. Entries expire after `LMS_RESPONSE_CACHE_TTL_SECONDS` as a safety
net for data the version does not track (enrollment counts, ratings, cover resizing,
instructor names); the cache is an LRU capped in entries and bytes, and a new version
empties it.

Concurrent misses of one key wait for the first (single flight), so a burst after a
change executes the page once. Every response says `X-Cache: HIT`, `MISS` (cacheable,
executed) or `BYPASS` (not cacheable, or the cache is off: `LMS_RESPONSE_CACHE=false`),
and `lms_response_cache_requests_total{result}` on `/metrics` counts the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from prometheus_client import Counter

from lms.config import Settings
from lms.courses.catalog_version import read_catalog_version
from web.metrics import REGISTRY

ALLOWED_ROOT_FIELDS = frozenset({"courses", "course", "courseBySlug", "__typename"})
MAX_ENTRY_BYTES = 2 * 1024 * 1024
HIT, MISS, BYPASS = "HIT", "MISS", "BYPASS"

REQUESTS = Counter(
    "lms_response_cache_requests",
    "POST /graphql requests by response-cache outcome",
    ["result"],
    registry=REGISTRY,
)

Execute = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


def request_key(data: dict[str, Any]) -> str | None:
    """sha256 of (query, operationName, variables); None when the request is malformed."""
    query, name, variables = data.get("query"), data.get("operationName"), data.get("variables")
    if not isinstance(query, str) or not (name is None or isinstance(name, str)):
        return None
    if not (variables is None or isinstance(variables, dict)):
        return None
    canonical = json.dumps(
        [query, name, variables or {}], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_public_catalog_query(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether the operation to run is a query selecting only allowlisted root fields."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return False
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def allowed(selection_set: SelectionSetNode, seen: frozenset[str]) -> bool:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value not in ALLOWED_ROOT_FIELDS:
                    return False
            elif isinstance(selection, InlineFragmentNode):
                if not allowed(selection.selection_set, seen):
                    return False
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    return False  # invalid documents are never cached
                if not allowed(fragment.selection_set, seen | {name}):
                    return False
            else:
                return False
        return True

    return allowed(operations[0].selection_set, frozenset())


class ResponseCache:
    """An LRU of response bodies keyed by (catalog version, request key), with a TTL."""

    def __init__(self, *, ttl: float, max_entries: int, max_bytes: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[tuple[int, str], tuple[float, bytes]] = OrderedDict()
        self._in_flight: dict[tuple[int, str], asyncio.Future[bytes | None]] = {}
        self._version = -1

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[int, str]) -> bytes | None:
        self._observe(key[0])
        found = self._entries.get(key)
        if found is None:
            return None
        expires, body = found
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return body

    def put(self, key: tuple[int, str], body: bytes) -> None:
        if len(body) > min(MAX_ENTRY_BYTES, self.max_bytes) or key[0] < self._version:
            return  # too big, or computed under a version already superseded
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + self.ttl, body)
        self.size_bytes += len(body)
        while len(self._entries) > self.max_entries or self.size_bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[int, str]) -> None:
        _expires, body = self._entries.pop(key)
        self.size_bytes -= len(body)

    def _observe(self, version: int) -> None:
        """A newer catalog version makes every entry unreachable: free them now."""
        if version > self._version:
            self._version = version
            self._entries.clear()
            self.size_bytes = 0

    async def serve(self, key: tuple[int, str], execute: Execute) -> tuple[int, bytes, str]:
        """The cached body, or execute once for all concurrent requests of this key."""
        body = self.get(key)
        if body is not None:
            return 200, body, HIT
        leader = self._in_flight.get(key)
        if leader is not None:
            body = await asyncio.shield(leader)
            if body is not None:
                return 200, body, HIT
            status, result = await execute()  # the first one was not cacheable: run our own
            return status, dumps(result), MISS
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        cached: bytes | None = None
        try:
            status, result = await execute()
            body = dumps(result)
            if status == 200 and "errors" not in result:
                cached = body
                self.put(key, body)
            return status, body, MISS
        finally:
            del self._in_flight[key]
            future.set_result(cached)


def dumps(result: dict[str, Any]) -> bytes:
    return json.dumps(result).encode()


def cache_for(extensions: dict[str, Any], settings: Settings) -> ResponseCache | None:
    """The app's cache (in `app.extensions`), None when switched off."""
    if not settings.response_cache:
        return None
    cache = extensions.get("lms_response_cache")
    if cache is None:
        cache = extensions["lms_response_cache"] = ResponseCache(
            ttl=settings.response_cache_ttl_seconds,
            max_entries=settings.response_cache_max_entries,
            max_bytes=settings.response_cache_max_bytes,
        )
    return cache


async def respond(
    cache: ResponseCache | None,
    sessions,
    authorization: str | None,
    data: dict[str, Any],
    parse: Callable[[str], DocumentNode],
    execute: Execute,
) -> tuple[int, bytes, str]:
    """(status, JSON body, X-Cache) for one parsed request body."""
    key = None
    if cache is not None and not authorization:
        key = request_key(data)
        if key is not None:
            try:
                document = parse(data["query"])
            except GraphQLError:
                key = None  # execution reports the syntax error
            else:
                if not is_public_catalog_query(document, data.get("operationName")):
                    key = None
    if key is None:
        status, result = await execute()
        REQUESTS.labels(BYPASS).inc()
        return status, dumps(result), BYPASS
    async with sessions() as session:
        version = await read_catalog_version(session)
    status, body, outcome = await cache.serve((version, key), execute)
    REQUESTS.labels(outcome).inc()
    return status, body, outcome
