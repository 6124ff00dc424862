"""What an error report or a span says about where it happened: request id, user id,
operation, job id, kind and queue. Ids only, never personal data.

Kept in a context variable (a fresh dict per change, so concurrent requests never share
one), read by Sentry's `before_send` at capture time.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from lms.logs import request_id

_tags: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "lms_tags", default=None
)


def _with(values: dict[str, object]) -> dict[str, str]:
    return {**(_tags.get() or {}), **{k: str(v) for k, v in values.items() if v is not None}}


def set_tags(**values: object) -> None:
    """Add tags for the rest of the current request (None values are left out)."""
    _tags.set(_with(values))


@contextlib.contextmanager
def tagged(**values: object) -> Iterator[None]:
    """Tags for a block, e.g. one job run in a worker process that runs many in turn."""
    token = _tags.set(_with(values))
    try:
        yield
    finally:
        _tags.reset(token)


def current_tags() -> dict[str, str]:
    tags = dict(_tags.get() or {})
    if rid := request_id.get():
        tags["request_id"] = rid
    return tags
