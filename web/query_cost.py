"""The query cost limit: what a document will make the server resolve, estimated before
anything executes.

Each selected field costs 1, plus its children multiplied by how many items it returns:
a connection by its page size (`first` or `pagination.first`, literal or variable, else the
default page), `limit` arguments by their value, and lists without a page argument by the
estimate in `LIST_SIZES` (course modules, lessons …) or `DEFAULT_LIST_SIZE`. A page of 100
courses with only their titles is cheap; the same page with every module and lesson is
refused. Introspection is bounded by the schema itself and costs nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

from web.request_checks import ReportCheck

DEFAULT_PAGE = 20  # lms.pagination's default `first`
MAX_MULTIPLIER = 1000
DEFAULT_LIST_SIZE = 10
# Lists without a page argument, by (type, field): how many items one usually holds.
LIST_SIZES: dict[tuple[str, str], int] = {
    ("Course", "modules"): 8,
    ("CourseModule", "lessons"): 8,
    ("Course", "instructors"): 3,
    ("Course", "prerequisites"): 3,
    ("CourseCoverImage", "variants"): 6,
    ("EnrollmentProgress", "lessons"): 40,
    ("Job", "events"): 20,
    ("VideoAsset", "renditions"): 4,
    ("User", "notificationPreferences"): 10,
}
_PAGE_ARGUMENTS = ("first", "limit")


def _unwrap_nullable(type_):
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _int_value(node: Any, variables: dict[str, Any]) -> int | None:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, VariableNode):
        value = variables.get(node.name.value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def _page_size(field: GraphQLField, node: FieldNode, variables: dict[str, Any]) -> int | None:
    """The page size a field was asked for, or its declared default; None if it has none."""
    given = {argument.name.value: argument.value for argument in node.arguments or ()}
    for name in _PAGE_ARGUMENTS:
        if name in field.args:
            value = _int_value(given.get(name), variables)
            if value is None and isinstance(field.args[name].default_value, int):
                value = field.args[name].default_value
            return value if value is not None else DEFAULT_PAGE
    if "pagination" in field.args:
        pagination = given.get("pagination")
        if isinstance(pagination, VariableNode):
            value = variables.get(pagination.name.value) or {}
            first = value.get("first") if isinstance(value, dict) else None
            return first if isinstance(first, int) else DEFAULT_PAGE
        if isinstance(pagination, ObjectValueNode):
            for item in pagination.fields:
                if item.name.value == "first":
                    return _int_value(item.value, variables) or DEFAULT_PAGE
        return DEFAULT_PAGE
    return None


class _Estimator:
    def __init__(self, schema, fragments: dict[str, FragmentDefinitionNode], variables) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables if isinstance(variables, dict) else {}

    def selection_cost(self, parent, selection_set: SelectionSetNode | None, seen=frozenset()):
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(parent, selection, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(target, selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # other rules report these
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selection_cost(target, fragment.selection_set, seen | {name})
        return total

    def field_cost(self, parent, node: FieldNode, seen) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0
        field = fields[name]
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return 1
        children = self.selection_cost(named, node.selection_set, seen)
        return 1 + self.multiplier(parent, field, node) * children

    def multiplier(self, parent, field: GraphQLField, node: FieldNode) -> int:
        if parent.name.endswith("Connection"):  # edges and nodes: the page already counted
            return 1
        page = _page_size(field, node, self.variables)
        if page is None:
            if not isinstance(_unwrap_nullable(field.type), GraphQLList):
                return 1
            page = LIST_SIZES.get((parent.name, node.name.value), DEFAULT_LIST_SIZE)
        return max(0, min(page, MAX_MULTIPLIER))


def document_cost(schema, document, variables: dict[str, Any] | None = None) -> int:
    """The estimated cost of the most expensive operation in `document`."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    estimator = _Estimator(schema, fragments, variables or {})
    costs = [
        estimator.selection_cost(
            schema.get_root_type(definition.operation), definition.selection_set
        )
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    return max(costs, default=0)


class CostLimit(NamedTuple):
    """The cost check of one request (it reads the request's variables). Not a visitor
    class: `CachedValidator` runs it through `errors_for`, and a class made per request
    cost its creation and a garbage collection of it every time."""

    max_cost: int
    variables: dict[str, Any] | None
    reads_variables: bool = True

    def __call__(self, context) -> ReportCheck:
        """As a graphql-core rule: a visitor reporting `errors_for`."""
        return ReportCheck(context, self)

    def errors_for(self, schema, document) -> list[GraphQLError]:
        cost = document_cost(schema, document, self.variables)
        if cost <= self.max_cost:
            return []
        return [
            GraphQLError(
                f"Query costs {cost}; the maximum is {self.max_cost}. Ask for smaller pages "
                "or fewer nested lists.",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": self.max_cost},
            )
        ]
