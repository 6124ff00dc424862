"""Notifications on the embedded default (`lms up`: SQLite and the filesystem broker): the
producer's insert, the email job and the inbox, as on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lms.config import load_settings
from tests.support import JobWatcher, Process, free_port

ROOT = Path(__file__).resolve().parents[2]

PRODUCE = """
import json
from sqlalchemy import select
from lms.db import session_scope
from lms.notifications.models import NotificationDelivery
from lms.notifications.service import notify
from lms.security import issue_access_token
from lms.users.models import Role, User
with session_scope() as session:
    user = User(email="ada@example.test", name="Ada", role=Role.STUDENT)
    session.add(user)
    session.flush()
    token = issue_access_token(user)
    spec = dict(user_id=user.id, type="GRADE_POSTED", title="Essay graded", key="grade:1")
    first = notify(session, **spec)
    again = notify(session, **spec)
    job = session.scalar(select(NotificationDelivery.job_id).where(
        NotificationDelivery.notification_id == first))
print(json.dumps({"token": token, "first": str(first), "again": str(again), "job": str(job)}))
"""


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """`lms up` in a clean folder with no LMS_* settings, running this checkout's code."""
    folder = tmp_path_factory.mktemp("clean-folder")
    port = free_port()
    env = {key: None for key in os.environ if key.startswith("LMS_")} | {
        "LMS_PORT": str(port),
        "PYTHONPATH": str(ROOT),
    }
    up = Process([sys.executable, "-m", "lyceum.cli", "up"], env, cwd=folder)
    up.wait_for("Running on")
    up.wait_for(" ready.")
    yield folder, f"http://127.0.0.1:{port}", env
    up.stop()


SHOW = """query($id: ID!) { getNotification(id: $id) { title deliveries { channel status } } }"""


def test_a_notification_and_its_email_on_sqlite(embedded):
    folder, base_url, env = embedded
    settings = load_settings(
        var_dir=folder / "var", database_url="", broker_url="", email_url="", storage_url=""
    )
    with JobWatcher(settings) as watcher:
        result = subprocess.run(
            [sys.executable, "-c", PRODUCE],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        )
        assert result.returncode == 0, result.stderr
        made = json.loads(result.stdout.strip().splitlines()[-1])
        assert made["first"] == made["again"]  # the repeated key made no second one
        assert watcher.wait(made["job"])["status"] == "SUCCEEDED"
    answer = httpx.post(
        f"{base_url}/graphql",
        json={"query": SHOW, "variables": {"id": made["first"]}},
        headers={"Authorization": f"Bearer {made['token']}"},
        timeout=10,
    ).json()
    shown = answer["data"]["getNotification"]
    assert shown["title"] == "Essay graded"
    assert {d["channel"]: d["status"] for d in shown["deliveries"]} == {
        "IN_APP": "DELIVERED",
        "EMAIL": "SENT",
    }
    assert any("Essay graded" in p.read_text() for p in (folder / "var" / "outbox").glob("*.eml"))
