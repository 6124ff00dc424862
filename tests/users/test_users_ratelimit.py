"""Rate limits on login, register, requestPasswordReset and refreshToken, per IP and per
account, in process (one API) and in Redis (shared by API processes)."""

from __future__ import annotations

import uuid

import pytest

from tests.support import GraphQLClient, start_api
from tests.users.conftest import FAST_HASH, LOGIN, REFRESH, REGISTER, new_email, register

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module", params=["memory", "redis"])
def api(request):
    """The production default limits, with counters in the API process or in Redis."""
    env = dict(FAST_HASH)
    if request.param == "redis":
        env.update(LMS_REDIS_URL=REDIS_URL, LMS_RATE_LIMIT_PREFIX=f"lms-test:{uuid.uuid4().hex}:")
    process, base_url = start_api(env=env)
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


def error_of(body: dict) -> dict:
    [error] = body["errors"]
    return error


def test_100_rapid_failed_logins_on_one_account_from_one_address_are_cut_off(api):
    address = new_email()
    register(api, email=address)
    seen = []
    for _ in range(100):
        body = api.execute(LOGIN, {"input": {"email": address, "password": "guessing password 1"}})
        seen.append(error_of(body)["extensions"]["code"])
    # Five free failures, then delays (attempts during a delay count too), then a lock.
    assert seen[:5] == ["INVALID_CREDENTIALS"] * 5
    assert set(seen[5:10]) <= {"INVALID_CREDENTIALS", "RATE_LIMITED"}
    assert set(seen[10:]) == {"RATE_LIMITED"}
    # From this address even the right password is refused now, with a retry-after (other
    # addresses are not: tests/users/test_users_login_limits.py).
    error = error_of(
        api.execute(
            LOGIN, {"input": {"email": address.upper(), "password": "violet kettle drums 42"}}
        )
    )
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 900
    assert "try again" in error["message"]


def test_100_rapid_failed_logins_across_accounts_hit_the_ip_limit(api):
    seen = [
        error_of(
            api.execute(LOGIN, {"input": {"email": new_email(), "password": "guessing password 1"}})
        )["extensions"]
        for _ in range(100)
    ]
    codes = [e["code"] for e in seen]
    # LMS_RATE_LOGIN_IP = 60 per minute (counting this module's earlier attempts too): some
    # failures, then only RATE_LIMITED, although no single account failed more than once.
    first_limited = codes.index("RATE_LIMITED")
    assert first_limited <= 60 and set(codes[:first_limited]) <= {"INVALID_CREDENTIALS"}
    assert set(codes[first_limited:]) == {"RATE_LIMITED"}
    assert all(0 < e["retryAfter"] <= 60 for e in seen[first_limited:])


def test_password_reset_requests_are_limited_per_account(api):
    address = new_email()
    request = "mutation($email: String!) { requestPasswordReset(input: {email: $email}) }"
    for _ in range(3):
        assert api.data(request, {"email": address}) == {"requestPasswordReset": True}
    assert api.error_codes(request, {"email": f" {address.upper()}"}) == ["RATE_LIMITED"]


def test_refresh_is_limited_per_account(api):
    token = register(api)["refreshToken"]
    for _ in range(30):  # LMS_RATE_REFRESH_ACCOUNT = 30 per minute
        token = api.data(REFRESH, {"token": token})["refreshToken"]["refreshToken"]
    assert api.error_codes(REFRESH, {"token": token}) == ["RATE_LIMITED"]


def test_sign_ups_are_limited_per_ip(api):
    # Two accounts already came from this address in this module; 20 per hour are allowed.
    codes = []
    for _ in range(20):
        body = api.execute(
            REGISTER,
            {"input": {"email": new_email(), "password": "violet kettle drums 42", "name": "N"}},
        )
        codes.append(error_of(body)["extensions"]["code"] if body.get("errors") else "OK")
    assert codes[:18] == ["OK"] * 18 and codes[18:] == ["RATE_LIMITED"] * 2
