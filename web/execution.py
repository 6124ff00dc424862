"""graphql-core's executor with a cheaper awaitable test.

graphql-core asks `is_awaitable` of every resolved value and list item (about 6,000 times
for a 20-course catalog page); its default does two `isinstance` checks and a `hasattr`
per value. Whether a value can be awaited depends only on its type, so the answer is kept
per type: one dict lookup for the strings, numbers and views that make up a page.
"""

from __future__ import annotations

from types import GeneratorType
from typing import Any

from ariadne.compat import ExecutionContext  # graphql-core 3.3 calls it Executor
from graphql.pyutils import is_awaitable as default_is_awaitable

_AWAITABLE_TYPES: dict[type, bool] = {}


def is_awaitable(value: Any) -> bool:
    kind = type(value)
    known = _AWAITABLE_TYPES.get(kind)
    if known is None:
        if kind is GeneratorType:  # a generator-based coroutine depends on its code flags
            return default_is_awaitable(value)
        known = _AWAITABLE_TYPES[kind] = hasattr(kind, "__await__")
    return known


class LeanExecutionContext(ExecutionContext):
    """Executes like graphql-core's, with `is_awaitable` answered per type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable
