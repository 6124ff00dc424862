"""Input hygiene for every operation, in one place: validation rules, not resolvers.

- Strings (literals and variables, at any depth, JSON included) must not carry NUL or
  other control characters except tab, newline and carriage return: PostgreSQL refuses
  NUL outright and the others only hide text from the people who read it.
- Every `ID` input is a UUID (all our ids are), so services never meet `uuid.UUID("1")`.
- Custom scalars (DateTime, JSON) parse variables here too, so a bad value gets the same
  code whether it came inline or as a variable.

Each refusal is a GraphQL error with code `BAD_USER_INPUT` before anything executes.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    IntValueNode,
    Node,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    VariableDefinitionNode,
    get_named_type,
    specified_scalar_types,
    type_from_ast,
)

from web.request_checks import ReportCheck

CODE = "BAD_USER_INPUT"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _error(message: str, node: Node | None, where: str) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": CODE, "input": where})


def control_character_problem(text: str) -> str | None:
    found = _CONTROL.search(text)
    if found is None:
        return None
    return f"contains the control character U+{ord(found.group()):04X}"


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class LiteralHygiene(ValidationRule):
    """Inline values: no control characters in any string; ID literals are UUIDs.

    Static (depends on the document only), so its result is cached with the document.
    """

    def enter_string_value(self, node: StringValueNode, *_args) -> None:
        problem = control_character_problem(node.value)
        if problem:
            self.report_error(_error(f"A string value {problem}.", node, "literal"))
            return
        self._check_id(node, node.value)

    def enter_int_value(self, node: IntValueNode, *_args) -> None:
        self._check_id(node, node.value)

    def _check_id(self, node: Node, value: str) -> None:
        expected = self.context.get_input_type()
        if expected is not None and get_named_type(expected).name == "ID" and not is_uuid(value):
            self.report_error(_error(f"{value[:60]!r} is not a valid id.", node, "literal"))


class VariableHygiene(NamedTuple):
    """The checks of one request's variable values against their declared types. Not a
    visitor class: `CachedValidator` runs it through `errors_for`, and a class made per
    request cost its creation and a garbage collection of it every time."""

    variables: Any
    reads_variables: bool = True

    def __call__(self, context) -> ReportCheck:
        """As a graphql-core rule: a visitor reporting `errors_for`."""
        return ReportCheck(context, self)

    def errors_for(self, schema: Any, document: DocumentNode) -> list[GraphQLError]:
        values = self.variables if isinstance(self.variables, dict) else {}
        if not values:
            return []
        found = (
            _variable_error(schema, node, values)
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
            for node in definition.variable_definitions or ()
        )
        return [error for error in found if error is not None]


def _variable_error(
    schema: Any, node: VariableDefinitionNode, values: dict[str, Any]
) -> GraphQLError | None:
    name = node.variable.name.value
    if name not in values:
        return None
    problem = _problem(type_from_ast(schema, node.type), values[name], f"${name}")
    return _error(problem, node, f"${name}") if problem else None


def _problem(type_: Any, value: Any, where: str) -> str | None:
    """The first thing wrong with `value` for `type_`, or None.

    Shapes that do not match the type are left to graphql-core's own coercion errors.
    """
    if value is None:
        return None
    if isinstance(type_, GraphQLNonNull):
        return _problem(type_.of_type, value, where)
    if isinstance(type_, GraphQLList):
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            problem = _problem(type_.of_type, item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(type_, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return None
        for key, item in value.items():
            field = type_.fields.get(key)
            problem = _problem(field.type, item, f"{where}.{key}") if field else None
            if problem:
                return problem
        return None
    problem = _strings_problem(value, where)
    if problem or not isinstance(type_, GraphQLScalarType):
        return problem
    if type_.name == "ID":
        return None if is_uuid(value) else f"{where}: {str(value)[:60]!r} is not a valid id."
    if type_.name not in specified_scalar_types:
        try:
            type_.parse_value(value)
        except Exception as error:  # noqa: BLE001 - whatever a parser raises, the input is bad
            return f"{where}: {getattr(error, 'message', None) or error}"
    return None


def _strings_problem(value: Any, where: str) -> str | None:
    """Control characters in a string, or in any key or string nested in JSON."""
    if isinstance(value, str):
        problem = control_character_problem(value)
        return f"{where} {problem}." if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _strings_problem(key, where) or _strings_problem(item, f"{where}.{key}")
            if problem:
                return problem
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _strings_problem(item, f"{where}[{index}]")
            if problem:
                return problem
    return None
