"""graphql-core's executor with a cheaper awaitable test and a short path for plain leaves.

graphql-core asks `is_awaitable` of every resolved value and list item (about 6,000 times
for a 20-course catalog page); its default does two `isinstance` checks and a `hasattr`
per value. Whether a value can be awaited depends only on its type, so the answer is kept
per type: one dict lookup for the strings, numbers and views that make up a page.

Most fields of a response are plain reads of a scalar (`web.field_resolvers.read_field`):
an id, a count, a message. For each, graphql-core builds a `ResolveInfo`, calls the
resolver and completes the value through three or four calls (non-null, leaf, coerce);
a list of numbers (a video's drop-off curve: 120 values) does that per item. For those
fields the executor here reads the value and coerces it directly. Anything else (a
callable value, a null where the type forbids it, a value the scalar refuses, a field
with arguments or directives, middleware installed) takes graphql-core's own path, which
produces the same value or the same error as before.
"""

from __future__ import annotations

from types import GeneratorType
from typing import Any

from ariadne.compat import ExecutionContext  # graphql-core 3.3 calls it Executor
from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLScalarType
from graphql.pyutils import Undefined
from graphql.pyutils import is_awaitable as default_is_awaitable

from web.field_resolvers import is_mapping

_AWAITABLE_TYPES: dict[type, bool] = {}


def is_awaitable(value: Any) -> bool:
    kind = type(value)
    known = _AWAITABLE_TYPES.get(kind)
    if known is None:
        if kind is GeneratorType:  # a generator-based coroutine depends on its code flags
            return default_is_awaitable(value)
        known = _AWAITABLE_TYPES[kind] = hasattr(kind, "__await__")
    return known


# Per field definition: (field, plan) where plan is None (generic path) or
# (attribute, leaf type, nullable, list: None | whether the list itself may be null).
_PLANS: dict[int, tuple[Any, tuple | None]] = {}
_LEAVES = (GraphQLScalarType, GraphQLEnumType)


def _plan(field: Any) -> tuple | None:
    known = _PLANS.get(id(field))
    if known is not None and known[0] is field:
        return known[1]
    name = getattr(field.resolve, "_lyceum_field_read", None)
    plan = None
    if name is not None and not field.args:
        kind, nullable, in_list = field.type, True, None
        if isinstance(kind, GraphQLNonNull):
            kind, nullable = kind.of_type, False
        if isinstance(kind, GraphQLList):  # only lists of non-null leaves
            inner = kind.of_type
            if isinstance(inner, GraphQLNonNull) and isinstance(inner.of_type, _LEAVES):
                plan = (name, inner.of_type, nullable, True)
        elif isinstance(kind, _LEAVES):
            plan = (name, kind, nullable, in_list)
    _PLANS[id(field)] = (field, plan)
    return plan


def _plain_value(plan: tuple, source: Any) -> Any:
    """The completed value of a plain leaf field, or Undefined: take the generic path."""
    name, leaf, nullable, in_list = plan
    value = source.get(name) if is_mapping(type(source)) else getattr(source, name, None)
    if value is None:
        return None if nullable else Undefined
    if callable(value):
        return Undefined
    coerce = leaf.coerce_output_value
    try:
        if in_list:
            if not isinstance(value, (list, tuple)):
                return Undefined
            done = [coerce(item) for item in value]
            return Undefined if None in done or Undefined in done else done
        done = coerce(value)
    except Exception:  # the generic path raises it again, located
        return Undefined
    return Undefined if done is None else done


class LeanExecutionContext(ExecutionContext):
    """Executes like graphql-core's, with `is_awaitable` answered per type and plain leaf
    fields read and coerced without the generic machinery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable
        # Per selection (graphql-core collects an object's subfields once per request and
        # list): the plain plan of each field, or None when one field is not plain.
        self._selection_plans: dict[int, tuple[Any, list | None]] = {}

    def build_response(self, data):
        try:
            return super().build_response(data)
        finally:
            # graphql-core's async helpers hold bound methods of this executor: a reference
            # cycle that left each request's executor, context and session to the garbage
            # collector instead of reference counting (young collections of 20-40 ms under
            # load). Nothing resolves after the response is built.
            self.async_helpers = None

    def _field_plan(self, parent_type, field_details_list) -> tuple | None:
        if self.middleware_manager or len(field_details_list) != 1:
            return None
        node = field_details_list[0].node
        field = parent_type.fields.get(node.name.value)
        if field is None or node.arguments or node.directives:
            return None
        return _plan(field)

    def _selection_plan(self, parent_type, grouped_field_set) -> list | None:
        known = self._selection_plans.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set:
            return known[1]
        plans: list | None = []
        for response_name, field_details_list in grouped_field_set.items():
            plan = self._field_plan(parent_type, field_details_list)
            if plan is None:
                plans = None
                break
            plans.append((response_name, plan))
        self._selection_plans[id(grouped_field_set)] = (grouped_field_set, plans)
        return plans

    def execute_fields(self, parent_type, source_value, path, grouped_field_set, position_context):
        """An object whose selected fields are all plain leaves (an at-risk student's
        reason: kind, message) as one dict, without a path and a call per field."""
        plans = self._selection_plan(parent_type, grouped_field_set)
        if plans is not None:
            results = {}
            for response_name, plan in plans:
                value = _plain_value(plan, source_value)
                if value is Undefined:
                    break
                results[response_name] = value
            else:
                return results
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        plan = self._field_plan(parent_type, field_details_list)
        if plan is not None:
            value = _plain_value(plan, source)
            if value is not Undefined:
                return value
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
