"""The per-request checks report the same errors whether the API's cached validator runs
them (`errors_for`) or graphql-core's own `validate` does (as a rule)."""

from __future__ import annotations

import uuid

from graphql import parse, validate

from web.input_hygiene import VariableHygiene
from web.query_cost import CostLimit
from web.schema import build_schema

COURSES = "query($first: Int!) { courses(pagination: {first: $first}) { edges { node { id } } } }"


def codes(errors) -> list[str]:
    return [error.extensions["code"] for error in errors]


def test_the_cost_limit_as_a_rule_and_directly():
    schema, document = build_schema(), parse(COURSES)
    check = CostLimit(5, {"first": 100})
    assert codes(check.errors_for(schema, document)) == ["QUERY_TOO_COSTLY"]
    assert codes(validate(schema, document, rules=[check])) == ["QUERY_TOO_COSTLY"]
    assert validate(schema, document, rules=[CostLimit(5000, {"first": 100})]) == []


def test_the_variables_hygiene_as_a_rule_and_directly():
    schema = build_schema()
    document = parse("query($id: ID!) { course(id: $id) { id } }")
    check = VariableHygiene({"id": "x"})
    direct = codes(check.errors_for(schema, document))
    assert direct and set(direct) == {"BAD_USER_INPUT"}
    assert codes(validate(schema, document, rules=[check])) == direct
    assert validate(schema, document, rules=[VariableHygiene({"id": str(uuid.uuid4())})]) == []
