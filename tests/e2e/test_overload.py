"""Overload is a stable answer, not an internal error: a request that waits longer than
`LMS_DB_POOL_TIMEOUT` for a database connection gets `SERVICE_BUSY` (inside GraphQL) or
HTTP 503 with `Retry-After` (before GraphQL, e.g. the signed-in viewer's lookup). In-process:
the API object with a one-connection pool, held by the test."""

from __future__ import annotations

import json

from lms.config import get_settings
from lms.users.models import Role
from tests.support import create_user
from web.app import create_app

COURSES = {"query": "{ courses(pagination: {first: 1}) { totalCount } }"}


async def test_a_full_pool_answers_service_busy_and_recovers():
    _, token = create_user(Role.STUDENT)
    tight = {"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.2}
    tight["response_cache"] = False  # the cache looks up the catalog version first
    app = create_app(get_settings().model_copy(update=tight))
    async with app.quart.test_app() as test_app:
        client = test_app.test_client()
        engine = app.quart.config["LMS_ENGINE"]
        async with engine.connect():  # the pool's only connection, busy elsewhere
            anonymous = await client.post("/graphql", json=COURSES)
            signed_in = await client.post(
                "/graphql", json=COURSES, headers={"Authorization": f"Bearer {token}"}
            )
        answer = json.loads(await anonymous.get_data())
        assert anonymous.status_code == 200 and answer["data"] is None
        [error] = answer["errors"]
        assert error["extensions"]["code"] == "SERVICE_BUSY"
        assert error["message"] == "The server is busy; try again in a moment."
        busy = json.loads(await signed_in.get_data())
        assert signed_in.status_code == 503 and signed_in.headers["Retry-After"] == "1"
        assert busy["errors"][0]["extensions"]["code"] == "SERVICE_BUSY"
        # The connection is free again: the same request is answered.
        again = json.loads(await (await client.post("/graphql", json=COURSES)).get_data())
        assert "errors" not in again and again["data"]["courses"]["totalCount"] >= 0
