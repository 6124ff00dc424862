"""Locust scenario for the Users module: each simulated user registers once, then mostly
reads `me`, sometimes rotates its refresh token and now and then signs in again.

Run it through `loadtests/run_users_load.py` (bounded, headless, JSON summary) or by hand:
    locust -f loadtests/locust_users.py --headless -u 20 -r 10 -t 20s --host http://127.0.0.1:8000

Requests are named by GraphQL operation, so locust reports `register`, `login`, `me` and
`refreshToken` separately. A GraphQL error (HTTP 200 with `errors`) counts as a failure.
"""

from __future__ import annotations

import uuid

from locust import HttpUser, between, task

PASSWORD = "load test password 7319"
REGISTER = """mutation($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken user { id } }
}"""
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }"
ME = "{ me { id email name role emailVerified } }"
REFRESH = (
    "mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { accessToken refreshToken } }"
)


class Learner(HttpUser):
    wait_time = between(0.05, 0.2)

    def graphql(
        self, name: str, query: str, variables: dict | None = None, token: str | None = None
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            name=name,
            catch_response=True,
        ) as response:
            try:
                body = response.json()
            except ValueError:
                response.failure(f"HTTP {response.status_code}, not JSON")
                return None
            if body.get("errors"):
                response.failure(body["errors"][0].get("extensions", {}).get("code", "ERROR"))
                return None
            response.success()
            return body["data"]

    def on_start(self) -> None:
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.test"
        self.access = self.refresh = None
        data = self.graphql(
            "register",
            REGISTER,
            {"input": {"email": self.email, "password": PASSWORD, "name": "Load"}},
        )
        if data:
            self.access, self.refresh = (
                data["register"]["accessToken"],
                data["register"]["refreshToken"],
            )

    @task(10)
    def me(self) -> None:
        if self.access:
            self.graphql("me", ME, token=self.access)

    @task(3)
    def refresh_token(self) -> None:
        if self.refresh:
            data = self.graphql("refreshToken", REFRESH, {"t": self.refresh})
            if data:
                self.access, self.refresh = (
                    data["refreshToken"]["accessToken"],
                    data["refreshToken"]["refreshToken"],
                )

    @task(1)
    def login(self) -> None:
        data = self.graphql("login", LOGIN, {"input": {"email": self.email, "password": PASSWORD}})
        if data:
            self.access, self.refresh = data["login"]["accessToken"], data["login"]["refreshToken"]
