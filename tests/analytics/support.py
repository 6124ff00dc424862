"""In-process GraphQL for analytics tests (the schema, resolvers and `Context` that
`POST /graphql` uses, without the HTTP framing), and learning events straight from the
producer API with chosen timestamps."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ariadne import graphql

from lms.analytics.rollups import roll_up
from lms.analytics.service import record
from lms.db import session_scope
from lms.models import utcnow
from lms.security import Viewer
from lms.users.models import Role
from tests.support import create_user
from web.context import Context
from web.errors import format_error
from web.graphql_http import cached_parser, validation_rules
from web.schema import build_schema


class InProcessAPI:
    def __init__(self, services) -> None:
        self.services = services

    async def execute(self, viewer: Viewer, query: str, variables: dict | None = None) -> dict:
        _ok, result = await graphql(
            build_schema(),
            {"query": query, "variables": variables or {}},
            context_value=Context(self.services, viewer=viewer),
            query_parser=cached_parser,
            validation_rules=validation_rules(self.services),
            error_formatter=format_error,
        )
        return result

    async def data(self, viewer: Viewer, query: str, variables: dict | None = None) -> dict:
        result = await self.execute(viewer, query, variables)
        assert not result.get("errors"), result["errors"]
        return result["data"]

    async def codes(self, viewer: Viewer, query: str, variables: dict | None = None) -> list[str]:
        result = await self.execute(viewer, query, variables)
        return [e["extensions"]["code"] for e in result.get("errors") or []]


def person(role: Role = Role.STUDENT) -> tuple[Viewer, uuid.UUID]:
    user, _token = create_user(role)
    return Viewer(user.id, role), user.id


def event(actor, verb, object_type, object_id, course_id, *, days_ago=0, **fields) -> None:
    """One learning event as another module would record it, `days_ago` days back."""
    with session_scope() as session:
        record(
            session,
            actor_id=actor,
            verb=verb,
            object_type=object_type,
            object_id=object_id,
            course_id=course_id,
            timestamp=utcnow() - timedelta(days=days_ago),
            **fields,
        )


def rolled_up(full: bool = False) -> dict:
    with session_scope() as session:
        return roll_up(session, full=full)


def date_range(days_back: int, days_ahead: int = 0) -> dict:
    now = utcnow()
    return {
        "startDate": (now - timedelta(days=days_back)).isoformat(),
        "endDate": (now + timedelta(days=days_ahead)).isoformat(),
    }
