"""The API object in-process through its ASGI app (Quart's test client): the whole HTTP path
of `POST /graphql`, one database session per request included, with each request's SQL
statements and connection checkouts counted on the API's own engine."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event

from lms.config import get_settings
from web.app import create_app


class Api:
    def __init__(self, client) -> None:
        self.client = client
        self.statements: list[str] = []
        self.checkouts = 0

    def on_statement(self, _conn, _cursor, statement, *_rest) -> None:
        self.statements.append(" ".join(statement.split()))

    def on_checkout(self, *_args) -> None:
        self.checkouts += 1

    async def post(self, query: str, variables: dict | None = None, token: str | None = None):
        """The answer's JSON; the counters then hold this request's figures only."""
        self.statements, self.checkouts = [], 0
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return json.loads(await response.get_data())

    async def data(self, query: str, variables: dict | None = None, token: str | None = None):
        answer = await self.post(query, variables, token)
        assert not answer.get("errors"), answer.get("errors")
        return answer["data"]


@contextlib.asynccontextmanager
async def running_api(**settings: Any) -> AsyncIterator[Api]:
    """The API with the response cache off (it would answer repeated reads itself)."""
    app = create_app(get_settings().model_copy(update={"response_cache": False, **settings}))
    async with app.quart.test_app() as test_app:
        api = Api(test_app.test_client())
        engine = app.quart.config["LMS_ENGINE"].sync_engine
        event.listen(engine, "before_cursor_execute", api.on_statement)
        event.listen(engine, "checkout", api.on_checkout)
        yield api
