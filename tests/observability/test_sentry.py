"""Unexpected errors reach Sentry once, with where they happened and nothing personal;
expected errors never do. The real SDK in real processes, sending envelopes over a socket
to a local ingest (tests/observability/sentry_server.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import httpx
import pytest

from lms.config import ConfigError, load_settings
from lms.db import session_scope
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.observability.sentry_server import SentryServer
from tests.support import LMS, ROOT, JobWatcher, Process, create_user, free_port, start_worker

RESET = "mutation Reset($email: String!) { requestPasswordReset(input: {email: $email}) }"


@pytest.fixture
def sentry():
    server = SentryServer()
    yield server
    server.close()


def test_a_dsn_that_does_not_parse_is_a_one_line_configuration_error():
    with pytest.raises(ConfigError, match="LMS_SENTRY_DSN: a Sentry DSN ends with its numeric"):
        load_settings(sentry_dsn="https://key@sentry.example.com/project")
    done = subprocess.run(
        [*LMS, "serve"], env={**os.environ, "LMS_SENTRY_DSN": "sentry.example.com"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "lms: configuration error: LMS_SENTRY_DSN: a Sentry DSN starts with https:// (or http://)"
    ]


def test_an_unexpected_resolver_error_arrives_once_with_its_tags(sentry, tmp_path):
    """On its own SQLite database, so breaking a table breaks nobody else's test."""
    keep = ("LMS_SECRET_KEY",)
    env = {key: None for key in os.environ if key.startswith("LMS_") and key not in keep} | {
        "LMS_SENTRY_DSN": sentry.dsn,
        "LMS_PASSWORD_HASH_TIME_COST": "1",
        "PYTHONPATH": str(ROOT),
    }
    merged = {key: value for key, value in {**os.environ, **env}.items() if value is not None}
    subprocess.run([*LMS, "migrate"], cwd=tmp_path, env=merged, check=True, timeout=120)
    database = tmp_path / "var" / "lms.db"
    settings = load_settings(database_url=f"sqlite:///{database}", var_dir=tmp_path / "var")
    user, token = create_user(Role.STUDENT, settings)
    port = free_port()
    api = Process([*LMS, "serve", "--port", str(port)], env, cwd=tmp_path)
    try:
        api.wait_for("Running on")
        url = f"http://127.0.0.1:{port}/graphql"
        expected = httpx.post(url, json={"query": RESET, "variables": {"email": "x"}}, timeout=30)
        assert expected.json()["errors"][0]["extensions"]["code"] == "INVALID_EMAIL"
        with sqlite3.connect(database) as connection:  # a real internal failure
            connection.execute("DROP TABLE course_slug_history")
            connection.execute("DROP TABLE courses")
        response = httpx.post(
            url,
            json={
                "query": 'query Course { courseBySlug(slug: "x") { id } }',
                "operationName": "Course",
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        # The SDK sends in order from one queue: the expected error, had it been sent,
        # would have arrived first.
        [event] = sentry.wait_for_events(1)
    finally:
        api.stop()
    assert len(sentry.events) == 1
    tags = event["tags"]
    assert tags["request_id"] == error["extensions"]["requestId"]
    assert (tags["user_id"], tags["operation"], tags["component"]) == (
        str(user.id), "Course", "api"
    )  # fmt: skip
    assert event["user"] == {"id": str(user.id)}
    assert event["environment"] == "development" and event["release"].startswith("lyceum@")
    [exception] = event["exception"]["values"][-1:]
    assert "no such table" in exception["value"]
    assert user.email not in str(event)


def test_an_unexpected_job_error_arrives_once_with_its_tags(sentry):
    env = {
        "LMS_SENTRY_DSN": sentry.dsn,
        "LMS_JOB_EXTRA_TASK_MODULES": "tests.observability.crash_tasks",
    }
    user, _ = create_user(Role.EDUCATOR)
    worker = start_worker("default", env=env)
    try:
        with JobWatcher() as watcher:
            with session_scope() as session:
                refused = enqueue(session, "tests.refuse").id
            assert watcher.wait(refused)["errorCode"] == "INVALID_MEDIA"  # expected: not sent
            with session_scope() as session:
                payload = {"email": "ada.lovelace@example.org"}
                crashed = enqueue(session, "tests.crash", payload, requested_by_id=user.id).id
            assert watcher.wait(crashed)["errorCode"] == "INTERNAL_ERROR"
            [event] = sentry.wait_for_events(1)
    finally:
        worker.stop()
    # Only job events count: stopping the worker may report its own pool shutdown.
    assert [e for e in sentry.events if (e.get("tags") or {}).get("job_id")] == [event]
    tags = event["tags"]
    assert (tags["job_id"], tags["job_kind"], tags["queue"]) == (
        str(crashed), "tests.crash", "default"
    )  # fmt: skip
    assert (tags["user_id"], tags["component"], tags["attempt"]) == (str(user.id), "worker", "1")
    [exception] = event["exception"]["values"][-1:]
    assert exception["value"] == "unexpected state for [email]"  # scrubbed before sending
    assert "lovelace" not in str(event)


def test_a_failing_scheduler_round_arrives_once_however_often_it_fails(sentry, tmp_path):
    """`lms beat` on its own SQLite database (and the embedded broker): with the jobs table
    gone, the reaper fails every half second; Sentry hears of it once."""
    keep = ("LMS_SECRET_KEY",)
    env = {key: None for key in os.environ if key.startswith("LMS_") and key not in keep} | {
        "LMS_SENTRY_DSN": sentry.dsn,
        "LMS_JOB_REAPER_INTERVAL_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
    }
    merged = {key: value for key, value in {**os.environ, **env}.items() if value is not None}
    subprocess.run([*LMS, "migrate"], cwd=tmp_path, env=merged, check=True, timeout=120)
    beat = Process([*LMS, "beat", "--loglevel", "info"], env, cwd=tmp_path)
    try:
        beat.wait_for("job housekeeping:")
        with sqlite3.connect(tmp_path / "var" / "lms.db") as connection:
            connection.execute("DROP TABLE job_events")
            connection.execute("DROP TABLE jobs")
        beat.wait_for("reap_expired failed", times=4)  # reported, then three repeats
    finally:
        beat.stop()  # flushes what the SDK still holds
    # Each failing round (the reaper, the relay, the queue stats…) arrives once.
    rounds = [e["logentry"]["params"][0] for e in sentry.events if "logentry" in e]
    assert "reap_expired" in rounds and len(rounds) == len(set(rounds))
    assert {e["tags"]["component"] for e in sentry.events} == {"scheduler"}
    assert "no such table: jobs" in str(sentry.events)
