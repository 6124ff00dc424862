"""Resolvers that only hand their arguments to a service function.

Most root fields are exactly that: take the viewer, open a short session (a transaction
for writes), call `fn(session, viewer, **arguments)`. Declaring them in a table keeps the
resolver modules to the fields that do more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ariadne import ObjectType


def service_resolver(
    fn: Callable[..., Any],
    *,
    write: bool = False,
    settings: bool = False,
    rename: dict[str, str] | None = None,
    public: bool = False,
    **fixed: Any,
):
    """`rename` maps GraphQL argument names to the service's keyword names (`input` → `data`);
    `public` fields answer anyone, so a bad token is ignored rather than refused."""
    rename = rename or {}

    async def resolve(_parent, info, **arguments):
        ctx = info.context
        run = ctx.write if write else ctx.read
        extra = {"settings": ctx.settings} if settings else {}
        kwargs = {rename.get(key, key): value for key, value in arguments.items()}
        viewer = ctx.viewer if public else ctx.require_viewer()
        return await run(fn, viewer, **extra, **fixed, **kwargs)

    resolve.__name__ = f"resolve_{fn.__name__}"
    return resolve


def bind_service_fields(
    object_type: ObjectType,
    fields: dict[str, Callable[..., Any] | tuple[Callable[..., Any], dict]],
    **options: Any,
) -> None:
    """Bind `{field: fn}` (or `{field: (fn, fixed_kwargs)}`) as service resolvers."""
    for name, target in fields.items():
        fn, fixed = target if isinstance(target, tuple) else (target, {})
        object_type.set_field(name, service_resolver(fn, **options, **fixed))
