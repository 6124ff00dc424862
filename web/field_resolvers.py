"""Plain field reads without the generic checks, for the fields that have no resolver of
their own (about 1,800 per catalog page).

graphql-core's default resolver and Ariadne's camelCase alias (`priceAmount` read as
`price_amount`) both ask `isinstance(parent, Mapping)` per field: an ABC check, slow for
the ORM rows and views that most parents are. The answer depends only on the parent's type,
so it is kept per type; otherwise they behave the same (a dict key or an attribute, a
callable value called with `info` and the arguments).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema

_IS_MAPPING: dict[type, bool] = {}


def is_mapping(kind: type) -> bool:
    known = _IS_MAPPING.get(kind)
    if known is None:
        known = _IS_MAPPING[kind] = issubclass(kind, Mapping)
    return known


def read_field(name: str):
    def resolve(parent: Any, info, **arguments: Any) -> Any:
        if is_mapping(type(parent)):
            value = parent.get(name)
        else:
            value = getattr(parent, name, None)
        if callable(value):
            return value(info, **arguments)
        return value

    resolve._lyceum_field_read = name  # type: ignore[attr-defined]
    return resolve


def _alias_target(resolver: Any) -> str | None:
    """The attribute an Ariadne alias resolver reads, if `resolver` is one (no dotted path)."""
    if not getattr(resolver, "_ariadne_alias_resolver", False):
        return None
    target = inspect.getclosurevars(resolver).nonlocals.get("attr_name")
    return target if isinstance(target, str) and "." not in target else None


def install(schema: GraphQLSchema) -> None:
    """Give every field without a resolver of its own (or with an Ariadne alias) a plain read."""
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        if type_ in (schema.query_type, schema.mutation_type, schema.subscription_type):
            continue
        for name, field in type_.fields.items():
            if field.resolve is None:
                field.resolve = read_field(name)
            elif (target := _alias_target(field.resolve)) is not None:
                field.resolve = read_field(target)
