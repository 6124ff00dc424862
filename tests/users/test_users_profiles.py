"""Profiles, privacy, roles, notification preferences, the audit log and `lms create-admin`."""

from __future__ import annotations

import subprocess
import uuid

from sqlalchemy import select

from lms.audit.models import AuditEntry
from lms.db import session_scope
from tests.support import LMS, ROOT, create_user
from tests.users.conftest import (
    FAST_HASH,
    ME,
    PASSWORD,
    REGISTER,
    codes,
    login,
    new_email,
    register,
)

UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { id name role bio timezone language profileVisibility email }
}"""
USER = """query($id: ID!) {
  user(id: $id) { id name role bio email emailVerified timezone profileVisibility
    notificationPreferences { type } }
}"""
PREFS = """mutation($input: UpdateNotificationPreferencesInput!) {
  updateNotificationPreferences(input: $input) { type email push inApp }
}"""


def audit_entries(subject_id: str) -> list[AuditEntry]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_id == subject_id)
                .order_by(AuditEntry.created_at)
            )
        )


def test_profile_update_and_validation(api):
    account = register(api)
    token = account["accessToken"]
    changes = {
        "name": " Grace  Hopper ",
        "bio": "Compilers.",
        "timezone": "America/New_York",
        "language": "pt-BR",
    }
    updated = api.data(UPDATE, {"input": changes}, token)["updateProfile"]
    assert (updated["name"], updated["bio"], updated["timezone"], updated["language"]) == (
        "Grace Hopper",
        "Compilers.",
        "America/New_York",
        "pt-BR",
    )
    assert api.data(ME, token=token)["me"]["timezone"] == "America/New_York"
    bad = {
        "timezone": ("Mars/Olympus", "INVALID_TIMEZONE"),
        "language": ("english please", "INVALID_LANGUAGE"),
        "bio": ("x" * 2001, "BIO_TOO_LONG"),
        "name": ("   ", "INVALID_NAME"),
    }
    for field, (value, code) in bad.items():
        assert api.error_codes(UPDATE, {"input": {field: value}}, token) == [code], field
    assert api.error_codes(UPDATE, {"input": {"bio": "x"}}) == ["UNAUTHENTICATED"]
    # Nothing of the refused changes stuck.
    assert api.data(ME, token=token)["me"]["name"] == "Grace Hopper"


def test_user_honours_profile_visibility_and_never_shows_emails_to_others(api):
    owner = register(api, name="Owner")
    other = register(api, name="Other Student")
    educator = register(api, role="EDUCATOR")
    _, admin_token = create_user()
    owner_id = owner["user"]["id"]

    # PUBLIC (the default): the public profile, without the email or other private fields.
    seen = api.data(USER, {"id": owner_id}, other["accessToken"])["user"]
    assert (
        seen["name"] == "Owner"
        and seen["email"] is None
        and seen["notificationPreferences"] is None
    )
    assert api.data(USER, {"id": owner_id})["user"]["email"] is None  # anonymous
    assert api.data(USER, {"id": owner_id}, educator["accessToken"])["user"]["email"] is None

    for visibility in ("PRIVATE", "ENROLLED_ONLY"):
        api.data(UPDATE, {"input": {"profileVisibility": visibility}}, owner["accessToken"])
        body = api.execute(USER, {"id": owner_id}, other["accessToken"])
        assert (
            codes(body) == ["FORBIDDEN"]
            and body["errors"][0]["extensions"]["reason"] == "PROFILE_PRIVATE"
        )
        assert api.error_codes(USER, {"id": owner_id}) == ["FORBIDDEN"]
        # The owner and admins see everything.
        mine = api.data(USER, {"id": owner_id}, owner["accessToken"])["user"]
        assert mine["email"] == owner["user"]["email"] and mine["profileVisibility"] == visibility
        assert (
            api.data(USER, {"id": owner_id}, admin_token)["user"]["email"] == owner["user"]["email"]
        )

    assert api.error_codes(USER, {"id": str(uuid.uuid4())}, other["accessToken"]) == ["NOT_FOUND"]
    # a malformed id is refused before any lookup (see web/input_hygiene.py)
    assert api.error_codes(USER, {"id": "not-a-uuid"}, other["accessToken"]) == ["BAD_USER_INPUT"]
    assert api.error_codes(USER, {"id": owner_id}, "garbage-token") == ["UNAUTHENTICATED"]


def test_users_cannot_raise_their_own_role(api):
    account = register(api)
    token = account["accessToken"]
    for role in ("ADMIN", "EDUCATOR"):
        assert api.error_codes(UPDATE, {"input": {"role": role}}, token) == ["FORBIDDEN"]
    other = register(api)
    assert api.error_codes(
        UPDATE, {"input": {"userId": other["user"]["id"], "name": "Hacked"}}, token
    ) == ["FORBIDDEN"]
    body = api.execute(
        REGISTER,
        {"input": {"email": new_email(), "password": PASSWORD, "name": "Root", "role": "ADMIN"}},
    )
    assert codes(body) == ["FORBIDDEN"]
    assert api.data(ME, token=token)["me"]["role"] == "STUDENT"
    assert login(api, account["user"]["email"])["user"]["role"] == "STUDENT"


def test_admin_changes_to_users_are_audited(api):
    admin, admin_token = create_user()
    student = register(api)
    student_id = student["user"]["id"]
    changed = api.data(
        UPDATE,
        {"input": {"userId": student_id, "role": "EDUCATOR", "bio": "Promoted"}},
        admin_token,
    )
    assert changed["updateProfile"]["role"] == "EDUCATOR"
    # The role is in the access token: the old tokens stop working, a new sign-in carries it.
    assert api.error_codes(ME, token=student["accessToken"]) == ["UNAUTHENTICATED"]
    assert login(api, student["user"]["email"])["user"]["role"] == "EDUCATOR"
    # Admins cannot change their own role (no accidental lock-out).
    assert api.error_codes(UPDATE, {"input": {"role": "STUDENT"}}, admin_token) == ["FORBIDDEN"]
    # An admin may create another admin; that is audited too.
    new_admin = register(api, role="ADMIN", token=admin_token)
    assert new_admin["user"]["role"] == "ADMIN"

    [entry] = audit_entries(student_id)
    assert entry.actor_id == admin.id and entry.action == "user.update"
    assert entry.details["role"] == ["STUDENT", "EDUCATOR"] and entry.ip == "127.0.0.1"
    [created] = audit_entries(new_admin["user"]["id"])
    assert created.action == "user.create" and created.actor_id == admin.id


def test_notification_preferences_per_type_and_channel(api):
    account = register(api)
    token = account["accessToken"]
    query = "{ me { notificationPreferences { type email push inApp } } }"
    defaults = {p["type"]: p for p in api.data(query, token=token)["me"]["notificationPreferences"]}
    assert defaults["GRADE_POSTED"] == {
        "type": "GRADE_POSTED",
        "email": True,
        "push": True,
        "inApp": True,
    }
    assert all(p["email"] and p["push"] and p["inApp"] for p in defaults.values())

    result = api.data(
        PREFS,
        {
            "input": {
                "preferences": [
                    {"type": "GRADE_POSTED", "push": False},
                    {"type": "ANNOUNCEMENT", "email": False, "inApp": True},
                ]
            }
        },
        token,
    )["updateNotificationPreferences"]
    by_type = {p["type"]: p for p in result}
    assert by_type["GRADE_POSTED"] == {
        "type": "GRADE_POSTED",
        "email": True,
        "push": False,
        "inApp": True,
    }
    assert by_type["ANNOUNCEMENT"] == {
        "type": "ANNOUNCEMENT",
        "email": False,
        "push": True,
        "inApp": True,
    }
    api.data(
        PREFS,
        {"input": {"preferences": [{"type": "GRADE_POSTED", "push": True, "email": False}]}},
        token,
    )
    stored = {p["type"]: p for p in api.data(query, token=token)["me"]["notificationPreferences"]}
    assert stored["GRADE_POSTED"] == {
        "type": "GRADE_POSTED",
        "email": False,
        "push": True,
        "inApp": True,
    }

    assert api.error_codes(PREFS, {"input": {"preferences": []}}) == ["UNAUTHENTICATED"]
    # An unknown type is refused by the schema before any resolver runs.
    assert codes(
        api.execute(PREFS, {"input": {"preferences": [{"type": "NOPE", "email": True}]}}, token)
    ) == ["GRAPHQL_VALIDATION_FAILED"]


def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LMS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**__import__("os").environ, **FAST_HASH},
    )


def test_create_admin_command(api):
    address = new_email()
    weak = run_cli("create-admin", address, "--password-stdin", stdin="password123\n")
    assert weak.returncode == 1 and "WEAK_PASSWORD" in weak.stderr
    done = run_cli(
        "create-admin", address.upper(), "--name", "Ops", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert f"admin {address} created" in done.stdout
    again = run_cli("create-admin", address, "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "EMAIL_TAKEN" in again.stderr

    session = login(api, address)
    assert session["user"]["role"] == "ADMIN"
    me = api.data(ME, token=session["accessToken"])["me"]
    assert me["emailVerified"] is True and me["name"] == "Ops"
    [entry] = audit_entries(me["id"])
    assert entry.action == "user.create_admin" and entry.actor_id is None
