"""Sign-in limits that cannot be turned against the owner, and the refresh grace window.

The API trusts X-Forwarded-For from 127.0.0.1 here (LMS_TRUSTED_PROXIES), as it would
behind a load balancer, so each test can play clients at different addresses.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from lms.db import session_scope
from lms.models import utcnow
from lms.users.models import RefreshToken
from lms.users.service import token_hash
from tests.support import GraphQLClient, start_api
from tests.users.conftest import FAST_HASH, LOGIN, ME, PASSWORD, REFRESH, new_email, register

ATTACKER, OWNER = "203.0.113.9", "198.51.100.7"
UNLOCK = "mutation($t: String!) { unlockSignIn(token: $t) }"


@pytest.fixture(scope="module")
def api():
    env = {**FAST_HASH, "LMS_TRUSTED_PROXIES": '["127.0.0.1/32"]', "LMS_RATE_LOGIN_IP": "1000/60"}
    process, base_url = start_api(env=env)
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


def sign_in(api, email: str, password: str, address: str) -> dict:
    variables = {"input": {"email": email, "password": password}}
    body = {"query": LOGIN, "variables": variables}
    return api.http.post("/graphql", json=body, headers={"X-Forwarded-For": address}).json()


def code_of(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else "OK"


def test_an_attacker_locks_out_only_their_own_address(api, mailbox):
    address = new_email()
    user_id = register(api, email=address)["user"]["id"]

    answers = [sign_in(api, address, "guessing password 1", ATTACKER) for _ in range(10)]
    codes = [code_of(body) for body in answers]
    assert codes[:5] == ["INVALID_CREDENTIALS"] * 5  # free failures, then delays, then a lock
    assert set(codes[5:]) <= {"INVALID_CREDENTIALS", "RATE_LIMITED"}
    locked = sign_in(api, address, PASSWORD, ATTACKER)  # the right password, from there
    assert code_of(locked) == "RATE_LIMITED"
    assert locked["errors"][0]["extensions"]["retryAfter"] > 60  # a lock, not a short delay

    # The owner, elsewhere, is not affected.
    owner = sign_in(api, address, PASSWORD, OWNER)
    assert code_of(owner) == "OK" and owner["data"]["login"]["user"]["id"] == user_id

    # The owner was told, with the address and an unlock link that lifts the lock.
    message = mailbox.latest(user_id, "unlock_sign_in")
    assert message["To"] == address
    assert ATTACKER in message.get_body(("plain",)).get_content()
    token = mailbox.token(user_id, "unlock_sign_in")
    assert api.error_codes(UNLOCK, {"t": token[:-2] + "00"}) == ["SIGNATURE_INVALID"]
    assert api.data(UNLOCK, {"t": token}) == {"unlockSignIn": True}
    assert code_of(sign_in(api, address, PASSWORD, ATTACKER)) == "OK"


def test_the_emailed_link_opens_a_page_that_unlocks_only_when_asked(api, mailbox):
    address = new_email()
    user_id = register(api, email=address)["user"]["id"]
    for _ in range(10):
        sign_in(api, address, "guessing password 1", ATTACKER)
    link = mailbox.latest(user_id, "unlock_sign_in").get_body(("plain",)).get_content()
    url = urlsplit(re.search(r"https?://\S+unlock-sign-in\?token=\S+", link).group(0))
    token = parse_qs(url.query)["token"][0]

    page = api.http.get(f"{url.path}?{url.query}")  # opening the link changes nothing
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'name="token"' in page.text and 'method="post"' in page.text
    assert code_of(sign_in(api, address, PASSWORD, ATTACKER)) == "RATE_LIMITED"

    forged = api.http.post(url.path, data={"token": token[:-2] + "00"})
    assert forged.status_code == 400
    done = api.http.post(url.path, data={"token": token})
    assert done.status_code == 200 and "Sign-in unlocked" in done.text
    assert code_of(sign_in(api, address, PASSWORD, ATTACKER)) == "OK"


def test_forwarded_addresses_count_only_from_trusted_proxies():
    """Without LMS_TRUSTED_PROXIES a forged X-Forwarded-For changes nothing."""
    process, base_url = start_api(env={**FAST_HASH, "LMS_RATE_LOGIN_IP": "1000/60"})
    client = GraphQLClient(base_url)
    try:
        address = new_email()
        register(client, email=address)
        codes = [
            code_of(sign_in(client, address, "guessing password 1", f"192.0.2.{n}"))
            for n in range(12)
        ]
        assert codes[-1] == "RATE_LIMITED"  # one source, whatever the header claimed
    finally:
        client.close()
        process.stop()


def test_two_tabs_refreshing_at_once_both_stay_signed_in(api):
    account = register(api)
    start = threading.Barrier(2)
    answers: list[dict] = []

    def tab() -> None:
        client = GraphQLClient(api.base_url)  # a tab of its own: its own connection
        try:
            start.wait()
            answers.append(client.execute(REFRESH, {"token": account["refreshToken"]}))
        finally:
            client.close()

    tabs = [threading.Thread(target=tab) for _ in range(2)]
    for thread in tabs:
        thread.start()
    for thread in tabs:
        thread.join()

    assert [code_of(body) for body in answers] == ["OK", "OK"]
    first, second = (body["data"]["refreshToken"] for body in answers)
    assert first["refreshToken"] == second["refreshToken"]  # the same successor
    assert api.data(ME, token=second["accessToken"])["me"]["id"] == account["user"]["id"]
    following = api.data(REFRESH, {"token": first["refreshToken"]})["refreshToken"]
    assert following["user"]["id"] == account["user"]["id"]


def test_reuse_after_the_grace_window_still_revokes_the_session(api):
    account = register(api)
    successor = api.data(REFRESH, {"token": account["refreshToken"]})["refreshToken"]
    with session_scope() as session:  # the grace window (10 s by default) has passed
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash(account["refreshToken"]))
            .values(rotated_at=utcnow() - timedelta(seconds=11))
        )
    assert api.error_codes(REFRESH, {"token": account["refreshToken"]}) == ["REFRESH_TOKEN_REUSED"]
    assert api.error_codes(REFRESH, {"token": successor["refreshToken"]}) == [
        "REFRESH_TOKEN_REVOKED"
    ]
