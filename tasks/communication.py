"""Communication jobs: publishing scheduled announcements (beat, every few seconds)."""

from __future__ import annotations

from lms.communication.jobs import PUBLISH_DUE_TASK
from lms.communication.service import publish_due
from lms.db import session_scope
from tasks.app import app


@app.task(name=PUBLISH_DUE_TASK, ignore_result=True)
def publish_due_announcements() -> int:
    """Each publication's fan-out job is recorded in the same transaction (the outbox)."""
    with session_scope() as session:
        return publish_due(session)
