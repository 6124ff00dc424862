"""Live enrollment events on the bus, published only after the change commits.

Topics are declared in `lms.events.topics` (keyed by `enrollmentId`); payloads are small
JSON dicts with camelCase keys, each naming its enrollment, student and course.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.events.bus import publish_event
from lms.events.topics import CERTIFICATE_GENERATED as CERTIFICATE_TOPIC
from lms.events.topics import COURSE_COMPLETED as COMPLETED_TOPIC
from lms.events.topics import ENROLLMENT_PROGRESS as PROGRESS_TOPIC
from lms.events.topics import LESSON_PROGRESS as LESSON_TOPIC
from lms.events.topics import Topic
from lms.jobs.service import after_commit

__all__ = [
    "CERTIFICATE_TOPIC",
    "COMPLETED_TOPIC",
    "LESSON_TOPIC",
    "PROGRESS_TOPIC",
    "publish_after_commit",
]


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


def publish_after_commit(session: Session, topic: Topic, data: dict[str, Any]) -> None:
    """Publish `data` on `topic` once `session` commits; nothing on rollback."""
    payload = jsonable(data)
    after_commit(session, lambda: publish_event(topic, payload))
