"""Live enrollment events on the bus, published only after the change commits.

Payloads are small JSON dicts with snake_case keys; each names its enrollment, student and
course so a subscription can filter without a database read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.events.bus import publish_event
from lms.jobs.service import after_commit

PROGRESS_TOPIC = "enrollment.progress"
LESSON_TOPIC = "enrollment.lesson"
CERTIFICATE_TOPIC = "enrollment.certificate"
COMPLETED_TOPIC = "enrollment.completed"


def jsonable(value: Any) -> Any:
    """Ids and timestamps as strings; everything else as is (recursively)."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def publish_after_commit(session: Session, topic: str, data: dict[str, Any]) -> None:
    """Publish `data` on `topic` once `session` commits; nothing on rollback."""
    payload = jsonable(data)
    after_commit(session, lambda: publish_event(topic, payload))
