"""The executor's short path for plain leaf fields answers exactly as graphql-core does:
the same data, and the same errors where a value breaks the schema."""

from __future__ import annotations

from ariadne.compat import get_execution_context_class_kwargs
from graphql import build_schema, execute, parse

from web.execution import LeanExecutionContext
from web.field_resolvers import install

SDL = """
type Reason { kind: String!  value: Float! }
type Lesson { lessonId: ID!  dropOff: [Int!]!  note: String  reasons: [Reason!]! }
type Query { lessons: [Lesson!]!  broken: Lesson  refused: Lesson }
"""


class Row:  # an attribute source, as the ORM rows and views are
    def __init__(self, **values):
        self.__dict__.update(values)


ROOT = {
    "lessons": [
        {"lessonId": "l1", "dropOff": [5, 4, 2], "note": None, "reasons": []},
        Row(lessonId=7, dropOff=(1,), note="fine", reasons=[{"kind": "INACTIVE", "value": 3}]),
    ],
    "broken": {"lessonId": None, "dropOff": [1, None], "note": None, "reasons": []},
    "refused": {"lessonId": "l3", "dropOff": ["many"], "note": 1.5, "reasons": []},
}
QUERY = """{
  lessons { lessonId dropOff note reasons { kind value } }
  broken { lessonId }
  alsoBroken: broken { dropOff }
  refused { dropOff note }
}"""


def run(lean: bool):
    schema = build_schema(SDL)
    install(schema)
    result = execute(
        schema,
        parse(QUERY),
        root_value=ROOT,
        **get_execution_context_class_kwargs(LeanExecutionContext if lean else None),
    )
    errors = sorted((e.message, tuple(e.path)) for e in result.errors or [])
    return result.data, errors


def test_lean_execution_answers_as_graphql_core_does():
    data, errors = run(lean=True)
    assert (data, errors) == run(lean=False)
    assert data["lessons"] == [
        {"lessonId": "l1", "dropOff": [5, 4, 2], "note": None, "reasons": []},
        {
            "lessonId": "7",
            "dropOff": [1],
            "note": "fine",
            "reasons": [{"kind": "INACTIVE", "value": 3.0}],
        },
    ]
    # A null where the schema forbids it, a list item the scalar refuses: errors, located.
    assert data["broken"] is None and data["alsoBroken"] is None and data["refused"] is None
    assert [path for _message, path in errors] == [
        ("alsoBroken", "dropOff", 1),
        ("broken", "lessonId"),
        ("refused", "dropOff", 0),
    ]
