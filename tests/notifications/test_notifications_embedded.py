"""Notifications on the embedded default (`lms up`: SQLite and the filesystem broker): the
producer's insert, the email job and the inbox, as on PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import Embedded, JobWatcher

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
    stack = Embedded(tmp_path_factory.mktemp("clean-folder"))
    yield stack
    stack.stop()


SHOW = """query($id: ID!) { getNotification(id: $id) { title deliveries { channel status } } }"""


def test_a_notification_and_its_email_on_sqlite(embedded):
    with JobWatcher(embedded.settings) as watcher:
        made = json.loads(embedded.python(PRODUCE))
        assert made["first"] == made["again"]  # the repeated key made no second one
        assert watcher.wait(made["job"])["status"] == "SUCCEEDED"
    answer = httpx.post(
        f"{embedded.base_url}/graphql",
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
    outbox = (embedded.folder / "var" / "outbox").glob("*.eml")
    assert any("Essay graded" in p.read_text() for p in outbox)
