"""Generated documents over the published schema never meet an internal error.

hypothesis-graphql builds valid queries and mutations from docs/schema.graphql with
hostile arguments (control characters, non-UUID ids, bad timestamps, extreme numbers)
mixed with ids of real objects, so resolvers run as well as validation. Each document is
sent to a real API process as anonymous, student, educator and admin; any HTTP 500 or
an error coded as internal fails the test with the document that caused it.
"""

from __future__ import annotations

import uuid

import pytest
from graphql import build_ast_schema, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from lms.users.models import Role
from tests.support import ROOT, create_user

SCHEMA = build_ast_schema(parse((ROOT / "docs" / "schema.graphql").read_text()))
INTERNAL_CODES = {"INTERNAL", "INTERNAL_SERVER_ERROR", "INTERNAL_ERROR"}
EXAMPLES_PER_FIELD = 2  # x 4 roles x 70 root fields: about a minute on 2 cores
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


def _documents_for(field: str) -> st.SearchStrategy[str]:
    """Documents calling one root field: every operation is tried, none masks another."""
    return from_schema(SCHEMA, fields=[field], custom_scalars=CUSTOM)


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
    def check(document: str) -> None:
        response = api.post(document, token=token)
        assert response.status_code < 500, (response.status_code, document, response.text)
        codes = {error["extensions"]["code"] for error in response.json().get("errors", [])}
        assert not codes & INTERNAL_CODES, (document, response.json()["errors"])

    check()
