"""The embedded default: `lms up` in a clean folder, SQLite + the filesystem broker.

Everything runs as a user would start it: one command, no servers.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import create_engine, text

from lms.config import load_settings
from tests.support import ROOT, JobWatcher, Process, free_port

ENQUEUE = """
from lms.db import session_scope
from lms.mail.jobs import request_email
with session_scope() as session:
    job = request_email(session, template="test", to="ada@example.test", context={"name": "Ada"})
print(job.id)
"""


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean-folder")
    port = free_port()
    # Only what a newcomer would have: no LMS_* settings but a port to avoid collisions.
    env = {key: None for key in os.environ if key.startswith("LMS_")} | {"LMS_PORT": str(port)}
    # Run this checkout's code from the clean folder, not the `lms` the venv has installed.
    env["PYTHONPATH"] = str(ROOT)
    up = Process([sys.executable, "-m", "lyceum.cli", "up"], env, cwd=folder)
    up.wait_for("lms: up")
    up.wait_for("Running on")
    up.wait_for(" ready.")
    yield folder, f"http://127.0.0.1:{port}", env, up
    if up.popen.poll() is None:
        up.stop()


def test_lms_up_answers_health_and_graphql(embedded):
    _, base_url, _, _ = embedded
    health = httpx.get(f"{base_url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    answer = httpx.post(f"{base_url}/graphql", json={"query": "{ __typename }"}, timeout=10)
    assert answer.json() == {"data": {"__typename": "Query"}}


def test_email_job_round_trip_on_sqlite_and_the_filesystem_broker(embedded):
    folder, _, env, _ = embedded
    var = folder / "var"
    settings = load_settings(
        var_dir=var, database_url="", broker_url="", email_url="", storage_url=""
    )
    with JobWatcher(settings) as watcher:
        result = subprocess.run(
            [sys.executable, "-c", ENQUEUE],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        )
        assert result.returncode == 0, result.stderr
        job_id = result.stdout.strip().splitlines()[-1]
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    assert watcher.statuses(job_id) == ["QUEUED", "RUNNING", "SUCCEEDED"]
    engine = create_engine(f"sqlite:///{var / 'lms.db'}")
    with engine.connect() as connection:
        stored = (
            connection.execute(
                text("SELECT status FROM job_events WHERE job_id = :id ORDER BY id"),
                {"id": job_id.replace("-", "")},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert stored == ["QUEUED", "RUNNING", "SUCCEEDED"]
    [message] = [email.message_from_bytes(p.read_bytes()) for p in (var / "outbox").glob("*.eml")]
    assert message["To"] == "ada@example.test"


def test_ctrl_c_stops_every_child(embedded):
    _, _, _, up = embedded
    up.popen.send_signal(signal.SIGINT)
    assert up.popen.wait(timeout=60) == 0
    up.wait_for("lms: stopped")
