"""Generated documents over the published schema never meet an internal error.

hypothesis-graphql builds valid queries and mutations from docs/schema.graphql with
hostile arguments (control characters, non-UUID ids, bad timestamps, extreme numbers)
mixed with ids of real objects, so resolvers run as well as validation; the same values
also go as variables (the path real clients take). Each document is
sent to a real API process as anonymous, student, educator and admin; any HTTP 500 or
an error coded as internal fails the test with the document that caused it.
"""

from __future__ import annotations

import uuid

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    Undefined,
    build_ast_schema,
    get_named_type,
    is_composite_type,
    parse,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from lms.users.models import Role
from tests.support import ROOT, create_user

SCHEMA = build_ast_schema(parse((ROOT / "docs" / "schema.graphql").read_text()))
INTERNAL_CODES = {"INTERNAL", "INTERNAL_SERVER_ERROR", "INTERNAL_ERROR"}
EXAMPLES_PER_FIELD = 3  # x 4 roles x 70 root fields: a minute or two on 2 cores
KNOWN_IDS: list[str] = [str(uuid.uuid4())]  # filled with real ids by the fixture
TOKENS: dict[str, str | None] = {"anonymous": None}

readable = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=24)
hostile = st.one_of(
    st.text(max_size=12),  # any code point
    st.sampled_from(["\x00", "a\x00b", "x\x1b[31my", "\x7f", "\x0c"]),  # what databases refuse
)
known = st.deferred(lambda: st.sampled_from(KNOWN_IDS))  # read once the fixture filled it
# one_of picks branches evenly: repeats weight it towards values that reach the resolvers
ids = st.one_of(known, known, known, st.uuids().map(str), hostile, st.integers().map(str))
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.just("2026-01-01T00:00:00Z"),
    hostile,
)
CUSTOM = {
    "ID": ids.map(nodes.String),
    "String": st.one_of(readable, readable, hostile).map(nodes.String),
    "DateTime": timestamps.map(nodes.String),
    "JSON": st.one_of(readable.map(nodes.String), st.integers(-5, 5).map(nodes.Int)),
    "BigInt": st.one_of(st.integers(-(2**60), 2**60), st.integers(0, 10**12)).map(nodes.Int),
}
# logout (all devices) would void the role's token for the rest of the run
ROOT_FIELDS = sorted({*SCHEMA.query_type.fields, *SCHEMA.mutation_type.fields} - {"logout"})


SCALAR_VALUES = {
    "ID": ids,
    "String": st.one_of(readable, readable, hostile),
    "Int": st.integers(-(2**31), 2**31 - 1),
    "Float": st.floats(allow_nan=False, allow_infinity=False),
    "Boolean": st.booleans(),
    "DateTime": timestamps,
    "JSON": st.recursive(
        st.none() | st.booleans() | st.integers() | readable | hostile,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(readable, inner, max_size=3),
        max_leaves=6,
    ),
    "BigInt": st.one_of(st.integers(-(2**60), 2**60), st.integers(0, 10**12)),
}


def _values(type_: GraphQLInputType) -> st.SearchStrategy:
    """JSON values for a variable of `type_`, as a client would send them."""
    if isinstance(type_, GraphQLNonNull):
        return _values_present(type_.of_type)
    return st.none() | _values_present(type_)


def _values_present(type_: GraphQLInputType) -> st.SearchStrategy:
    if isinstance(type_, GraphQLList):
        return st.lists(_values(type_.of_type), max_size=3)
    if isinstance(type_, GraphQLEnumType):
        return st.sampled_from(list(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        required = {n: _values(f.type) for n, f in type_.fields.items() if is_required(f)}
        optional = {n: _values(f.type) for n, f in type_.fields.items() if not is_required(f)}
        return st.fixed_dictionaries(required, optional=optional)
    return SCALAR_VALUES[type_.name]


def is_required(field) -> bool:
    return isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined


def _with_variables(name: str) -> st.SearchStrategy[tuple[str, dict]]:
    """`name` called with every argument as a variable: the path real clients take."""
    is_mutation = name in SCHEMA.mutation_type.fields
    field = (SCHEMA.mutation_type if is_mutation else SCHEMA.query_type).fields[name]
    if not field.args:
        return from_schema(SCHEMA, fields=[name], custom_scalars=CUSTOM).map(lambda d: (d, {}))
    declared = ", ".join(f"${arg}: {spec.type}" for arg, spec in field.args.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    selection = "{ __typename }" if is_composite_type(get_named_type(field.type)) else ""
    operation = "mutation" if is_mutation else "query"
    document = f"{operation}({declared}) {{ {name}({passed}) {selection} }}"
    variables = st.fixed_dictionaries({arg: _values(spec.type) for arg, spec in field.args.items()})
    return variables.map(lambda values: (document, values))


def _documents_for(field: str) -> st.SearchStrategy[tuple[str, dict]]:
    """Documents calling one root field (every operation is tried, none masks another):
    generated inline literals, or the arguments as variables."""
    inline = from_schema(SCHEMA, fields=[field], custom_scalars=CUSTOM)
    return inline.map(lambda document: (document, {})) | _with_variables(field)


@pytest.fixture(scope="module")
def population(api):
    """Users of every role, and a course with a module and a lesson to aim ids at."""
    for role in (Role.STUDENT, Role.EDUCATOR, Role.ADMIN):
        user, token = create_user(role)
        TOKENS[role.value.lower()] = token
        KNOWN_IDS.append(str(user.id))
    course = api.data(
        'mutation { createCourse(input: {title: "Fuzzing 101", description: "x", '
        'category: "testing"}) { id } }',
        token=TOKENS["educator"],
    )["createCourse"]
    module = api.data(
        'mutation($id: ID!) { addModule(courseId: $id, input: {title: "M"}) { id } }',
        {"id": course["id"]},
        TOKENS["educator"],
    )["addModule"]
    lesson = api.data(
        'mutation($id: ID!) { addLesson(moduleId: $id, input: {title: "L", type: TEXT}) { id } }',
        {"id": module["id"]},
        TOKENS["educator"],
    )["addLesson"]
    KNOWN_IDS.extend([course["id"], module["id"], lesson["id"]])
    return TOKENS


@pytest.mark.parametrize("field", ROOT_FIELDS)
@pytest.mark.parametrize("role", ["anonymous", "student", "educator", "admin"])
def test_generated_documents_never_fail_internally(api, population, role, field):
    token = population[role]

    @settings(
        max_examples=EXAMPLES_PER_FIELD,
        deadline=None,
        database=None,  # no example files in the tree
        suppress_health_check=list(HealthCheck),
    )
    @given(_documents_for(field))
    def check(request: tuple[str, dict]) -> None:
        document, variables = request
        response = api.post(document, variables, token=token)
        assert response.status_code < 500, (response.status_code, request, response.text)
        codes = {error["extensions"]["code"] for error in response.json().get("errors", [])}
        assert not codes & INTERNAL_CODES, (request, response.json()["errors"])

    check()
