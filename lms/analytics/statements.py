"""The producer API: other modules append a learning event in their own transaction.

    record(session, actor_id=…, verb="completed", object_type="lesson", object_id=…,
           course_id=…, result={"completion": True, "duration": "PT42S"})

The event is written with the change that caused it, so analytics never disagree with
the data (a rolled-back change leaves no event). Verbs are short names (`VERBS`, each an
xAPI verb IRI in exports). Numbers the rollups sum are read from `result` here:
`score.scaled` (0..1), `duration` (ISO 8601 `PTnS`, time on task added) and `amount`
(minor currency units, with `currency`) and `progress` (the course percent after it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from lms.analytics.models import LearningEvent
from lms.models import utcnow

VERBS = {
    "enrolled": "http://adlnet.gov/expapi/verbs/registered",
    "progressed": "http://adlnet.gov/expapi/verbs/progressed",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "answered": "http://adlnet.gov/expapi/verbs/answered",
    "scored": "http://adlnet.gov/expapi/verbs/scored",
    "commented": "http://adlnet.gov/expapi/verbs/commented",
    "earned": "http://id.tincanapi.com/verb/earned",
    "purchased": "http://id.tincanapi.com/verb/purchased",
    "refunded": "https://lyceum.example/xapi/verbs/refunded",
    "withdrew": "https://lyceum.example/xapi/verbs/withdrew",
}
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def duration(seconds: int | float) -> str:
    """`PT42S`: an xAPI duration."""
    return f"PT{max(0, int(seconds))}S"


def _seconds(value: Any) -> int:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        return 0
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return int(hours * 3600 + minutes * 60 + seconds)


def _score(result: dict) -> float | None:
    scaled = (result.get("score") or {}).get("scaled")
    return None if scaled is None else max(0.0, min(1.0, float(scaled)))


def record(session: Session, **event: Any) -> None:
    """Append one learning event in `session`'s transaction (it commits with the change);
    `event` is `event_row`'s keyword arguments."""
    session.add(LearningEvent(**event_row(**event)))


def record_many(session: Session, events: Iterable[dict[str, Any]]) -> None:
    """Append many events (each `record`'s keyword arguments) in one INSERT: a graded quiz
    records one per answered question, without an ORM object for each."""
    rows = [event_row(**event) for event in events]
    if rows:
        session.execute(insert(LearningEvent), rows)


def event_row(
    *,
    actor_id,
    verb: str,
    object_type: str,
    object_id,
    course_id=None,
    result: dict | None = None,
    context: dict | None = None,
    timestamp=None,
) -> dict[str, Any]:
    """The stored columns of one event."""
    if verb not in VERBS:
        raise ValueError(f"unknown learning-event verb {verb!r}")
    result = dict(result or {})
    now = utcnow()
    when = timestamp or now
    if isinstance(when, datetime) and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return {
        "id": uuid.uuid4(),
        "timestamp": when,
        "stored_at": now,
        "actor_id": actor_id if isinstance(actor_id, uuid.UUID) else uuid.UUID(str(actor_id)),
        "verb": verb,
        "object_type": object_type,
        "object_id": str(object_id),
        "course_id": (
            None
            if course_id is None
            else course_id
            if isinstance(course_id, uuid.UUID)
            else uuid.UUID(str(course_id))
        ),
        "result": result or None,
        "context": context or None,
        "score": _score(result),
        "seconds": _seconds(result.get("duration")),
        "amount": int(result.get("amount") or 0),
        "currency": (result.get("currency") or None) and str(result["currency"]).upper()[:3],
        "progress": result.get("progress"),
    }
