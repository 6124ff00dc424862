"""The printed schema is the API contract: it is committed and must not drift silently."""

from __future__ import annotations

from tests.support import ROOT
from web.schema import printed_schema

CONTRACT = ROOT / "docs" / "schema.graphql"


def test_committed_schema_matches_the_code():
    assert CONTRACT.read_text() == printed_schema(), (
        "The GraphQL schema changed: review it, then run `lms export-schema > docs/schema.graphql`."
    )
