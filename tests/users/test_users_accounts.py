"""Sign-up, sign-in, sessions and emailed tokens, through the GraphQL endpoint."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
from sqlalchemy import delete, update

from lms.config import get_settings
from lms.db import session_scope
from lms.models import utcnow
from lms.users.models import OneTimeToken, RefreshToken, User
from lms.users.service import token_hash
from tests.users.conftest import (
    LOGIN,
    ME,
    PASSWORD,
    REFRESH,
    REGISTER,
    codes,
    login,
    new_email,
    register,
)

VERIFY = "mutation($token: String!) { verifyEmail(input: {token: $token}) { id emailVerified } }"
REQUEST_RESET = "mutation($email: String!) { requestPasswordReset(input: {email: $email}) }"
RESET = (
    "mutation($token: String!, $pw: String!) { "
    "resetPassword(input: {token: $token, newPassword: $pw}) }"
)
LOGOUT = "mutation($input: LogoutInput) { logout(input: $input) { revokedSessions } }"


def test_register_sends_a_verification_email_and_the_link_verifies_once(api, mailbox):
    address = new_email()
    account = register(api, email=address, role="EDUCATOR", name="  Ada   Lovelace ")
    user = account["user"]
    assert (
        user["email"] == address and user["role"] == "EDUCATOR" and user["name"] == "Ada Lovelace"
    )
    assert user["emailVerified"] is False
    # Unverified users can sign in and use the API.
    assert api.data(ME, token=account["accessToken"])["me"]["emailVerified"] is False

    message = mailbox.latest(user["id"], "verify_email")
    assert message["To"] == address and "Confirm your email" in message["Subject"]
    token = mailbox.token(user["id"], "verify_email")
    assert api.data(VERIFY, {"token": token})["verifyEmail"] == {
        "id": user["id"],
        "emailVerified": True,
    }
    assert api.data(ME, token=account["accessToken"])["me"]["emailVerified"] is True
    assert "Welcome" in mailbox.latest(user["id"], "welcome")["Subject"]

    # The link is single-use.
    assert api.error_codes(VERIFY, {"token": token}) == ["TOKEN_USED"]
    assert api.error_codes(VERIFY, {"token": "not-a-token"}) == ["INVALID_TOKEN"]


def test_duplicate_email_is_refused_whatever_its_case_and_spaces(api):
    address = new_email()
    register(api, email=address)
    for variant in (address.upper(), f"  {address}  ", "\t" + address.title()):
        body = api.execute(
            REGISTER, {"input": {"email": variant, "password": PASSWORD, "name": "Dup"}}
        )
        assert codes(body) == ["EMAIL_TAKEN"], variant
    # The stored address is the normalized one, and sign-in accepts any case.
    assert login(api, f" {address.upper()} ")["user"]["email"] == address


def test_malformed_emails_are_refused(api):
    for bad in (
        "",
        "   ",
        "plainaddress",
        "@example.test",
        "a@",
        "a@b",
        "a b@example.test",
        "Ann <ann@example.test>",
        "a@example.test\nBcc: x@evil.test",
        "a@@example.test",
        "x" * 65 + "@example.test",
    ):
        body = api.execute(REGISTER, {"input": {"email": bad, "password": PASSWORD, "name": "Bad"}})
        assert codes(body) == ["INVALID_EMAIL"], bad


def test_weak_passwords_name_the_rule_they_break(api):
    address = new_email()
    cases = {
        "short1!": "MIN_LENGTH",
        "x" * 129: "MAX_LENGTH",
        "password123": "COMMON_PASSWORD",
        "Qwertyuiop": "COMMON_PASSWORD",
        "aaaaaaaaaaaa": "COMMON_PASSWORD",
        f"{address}!!": "CONTAINS_EMAIL",
        f"my {address.split('@')[0]} pw": "CONTAINS_EMAIL",
    }
    for password, rule in cases.items():
        body = api.execute(
            REGISTER, {"input": {"email": address, "password": password, "name": "Weak"}}
        )
        [error] = body["errors"]
        assert error["extensions"]["code"] == "WEAK_PASSWORD", password
        assert error["extensions"]["rule"] == rule, password
    # None of the refused attempts created the account.
    assert register(api, email=address)["user"]["email"] == address


def test_wrong_password_and_unknown_email_answer_alike(api):
    address = new_email()
    register(api, email=address)
    wrong = api.execute(LOGIN, {"input": {"email": address, "password": "not the password 1"}})
    unknown = api.execute(
        LOGIN, {"input": {"email": new_email(), "password": "not the password 1"}}
    )
    malformed = api.execute(
        LOGIN, {"input": {"email": "no-at-sign", "password": "not the password 1"}}
    )
    for body in (wrong, unknown, malformed):
        assert body["data"] is None
        [error] = body["errors"]
        assert error["message"] == "wrong email or password"
        # Alike but for the request id that every answer carries.
        assert error["extensions"].pop("requestId")
        assert error["extensions"] == {"code": "INVALID_CREDENTIALS"}


def test_bad_access_tokens_are_refused(api):
    account = register(api)
    token = account["accessToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    header, payload, signature = token.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps({**claims, "role": "ADMIN"}).encode()
    ).decode()
    tampered = f"{header}.{tampered_payload}.{signature}"
    alg_none = jwt.encode({**claims, "role": "ADMIN"}, key=None, algorithm="none")
    expired = jwt.encode(
        {**claims, "iat": claims["iat"] - 3600, "exp": claims["iat"] - 60},
        get_settings().secret_key,
        algorithm="HS256",
    )
    other_key = jwt.encode(claims, "some-other-secret-key-of-enough-length", algorithm="HS256")
    assert api.error_codes(ME, token=tampered) == ["UNAUTHENTICATED"]
    assert api.error_codes(ME, token=alg_none) == ["UNAUTHENTICATED"]
    assert api.error_codes(ME, token=other_key) == ["UNAUTHENTICATED"]
    assert api.error_codes(ME, token="garbage") == ["UNAUTHENTICATED"]
    assert api.error_codes(ME, token=expired) == ["TOKEN_EXPIRED"]
    assert api.error_codes(ME) == ["UNAUTHENTICATED"]
    assert api.data(ME, token=token)["me"]["id"] == account["user"]["id"]


def test_token_of_a_deleted_user_is_refused(api):
    account = register(api)
    with session_scope() as session:
        session.execute(delete(User).where(User.id == uuid.UUID(account["user"]["id"])))
    assert api.error_codes(ME, token=account["accessToken"]) == ["UNAUTHENTICATED"]
    assert api.error_codes(REFRESH, {"token": account["refreshToken"]}) == ["INVALID_REFRESH_TOKEN"]


def test_refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_family(api):
    address = new_email()
    first = register(api, email=address)
    other_device = login(api, address)

    second = api.data(REFRESH, {"token": first["refreshToken"]})["refreshToken"]
    assert second["refreshToken"] != first["refreshToken"]
    assert api.data(ME, token=second["accessToken"])["me"]["email"] == address
    third = api.data(REFRESH, {"token": second["refreshToken"]})["refreshToken"]

    # A thief replays the rotated token: the whole family dies, the legitimate holder too.
    assert api.error_codes(REFRESH, {"token": first["refreshToken"]}) == ["REFRESH_TOKEN_REUSED"]
    assert api.error_codes(REFRESH, {"token": third["refreshToken"]}) == ["REFRESH_TOKEN_REVOKED"]
    # Another device's session is another family and survives.
    assert api.data(REFRESH, {"token": other_device["refreshToken"]})["refreshToken"]["user"]["id"]
    assert api.error_codes(REFRESH, {"token": "made-up"}) == ["INVALID_REFRESH_TOKEN"]


def test_expired_refresh_token_is_refused(api):
    account = register(api)
    with session_scope() as session:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash(account["refreshToken"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api.error_codes(REFRESH, {"token": account["refreshToken"]}) == ["REFRESH_TOKEN_EXPIRED"]


def test_logout_ends_one_session_or_all_of_them(api):
    address = new_email()
    laptop = register(api, email=address)
    phone = login(api, address)
    tablet = login(api, address)

    assert (
        api.data(LOGOUT, {"input": {"refreshToken": laptop["refreshToken"]}})["logout"][
            "revokedSessions"
        ]
        == 1
    )
    assert api.error_codes(REFRESH, {"token": laptop["refreshToken"]}) == ["REFRESH_TOKEN_REVOKED"]
    phone = api.data(REFRESH, {"token": phone["refreshToken"]})["refreshToken"]

    assert api.error_codes(LOGOUT, {"input": {}}) == ["BAD_USER_INPUT"]
    assert api.error_codes(LOGOUT, {"input": {"allDevices": True}}) == ["UNAUTHENTICATED"]
    revoked = api.data(LOGOUT, {"input": {"allDevices": True}}, token=phone["accessToken"])[
        "logout"
    ]
    assert revoked["revokedSessions"] == 2  # the phone and the tablet
    assert api.error_codes(REFRESH, {"token": tablet["refreshToken"]}) == ["REFRESH_TOKEN_REVOKED"]
    # Signing out everywhere also ends the access tokens already handed out.
    assert api.error_codes(ME, token=phone["accessToken"]) == ["UNAUTHENTICATED"]
    assert login(api, address)["user"]["email"] == address


def test_password_reset_by_email_link(api, mailbox):
    address = new_email()
    account = register(api, email=address)
    user_id = account["user"]["id"]
    # Same answer for an account that does not exist, and no email is sent for it.
    assert api.data(REQUEST_RESET, {"email": new_email()}) == {"requestPasswordReset": True}
    assert api.data(REQUEST_RESET, {"email": f" {address.upper()} "}) == {
        "requestPasswordReset": True
    }
    message = mailbox.latest(user_id, "password_reset")
    assert message["To"] == address and "1 hour" in message.get_body(("plain",)).get_content()
    token = mailbox.token(user_id, "password_reset")

    new_password = "amber lantern orbit 7"
    body = api.execute(RESET, {"token": token, "pw": "short"})
    assert (
        codes(body) == ["WEAK_PASSWORD"] and body["errors"][0]["extensions"]["rule"] == "MIN_LENGTH"
    )
    assert api.data(RESET, {"token": token, "pw": new_password}) == {"resetPassword": True}
    assert api.error_codes(RESET, {"token": token, "pw": "another fine password 9"}) == [
        "TOKEN_USED"
    ]

    # Every session ended: refresh tokens and access tokens alike; the old password is gone.
    assert api.error_codes(REFRESH, {"token": account["refreshToken"]}) == ["REFRESH_TOKEN_REVOKED"]
    assert api.error_codes(ME, token=account["accessToken"]) == ["UNAUTHENTICATED"]
    assert api.error_codes(LOGIN, {"input": {"email": address, "password": PASSWORD}}) == [
        "INVALID_CREDENTIALS"
    ]
    fresh = login(api, address, new_password)
    # Following the link proved the address: the account counts as verified now.
    assert api.data(ME, token=fresh["accessToken"])["me"]["emailVerified"] is True


def test_expired_and_unknown_emailed_tokens_are_refused(api, mailbox):
    account = register(api)
    user_id = account["user"]["id"]
    api.data(REQUEST_RESET, {"email": account["user"]["email"]})
    verify_token = mailbox.token(user_id, "verify_email")
    reset_token = mailbox.token(user_id, "password_reset")
    with session_scope() as session:
        session.execute(
            update(OneTimeToken)
            .where(OneTimeToken.token_hash.in_([token_hash(verify_token), token_hash(reset_token)]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api.error_codes(VERIFY, {"token": verify_token}) == ["TOKEN_EXPIRED"]
    assert api.error_codes(RESET, {"token": reset_token, "pw": "amber lantern orbit 7"}) == [
        "TOKEN_EXPIRED"
    ]
    # A verification token is not a reset token, and the reverse.
    assert api.error_codes(RESET, {"token": verify_token, "pw": "amber lantern orbit 7"}) == [
        "INVALID_TOKEN"
    ]
    assert api.error_codes(VERIFY, {"token": reset_token}) == ["INVALID_TOKEN"]
    # A fresh link can be asked for, and works.
    resend = "mutation { resendVerificationEmail }"
    assert api.data(resend, token=account["accessToken"]) == {"resendVerificationEmail": True}
    assert len(mailbox.jobs(user_id, "verify_email")) == 2
    assert api.data(VERIFY, {"token": mailbox.token(user_id, "verify_email")})["verifyEmail"][
        "emailVerified"
    ]
    assert api.data(resend, token=account["accessToken"]) == {"resendVerificationEmail": False}
