"""Learning events as xAPI 1.0.3 statements, for schools with their own learning record
store. Our short verbs map to verb IRIs (`statements.VERBS`); result keys that xAPI does
not define, and the whole context, travel as extensions under `EXTENSION_BASE`."""

from __future__ import annotations

from typing import Any

from lms.analytics.models import LearningEvent
from lms.analytics.statements import VERBS

EXTENSION_BASE = "https://lyceum.example/xapi/extensions/"
RESULT_KEYS = {"score", "success", "completion", "response", "duration"}


def _extensions(values: dict) -> dict:
    return {EXTENSION_BASE + key: value for key, value in values.items()}


def activity(base_url: str, object_type: str, object_id: str) -> dict:
    return {
        "objectType": "Activity",
        "id": f"{base_url}/xapi/activities/{object_type}/{object_id}",
        "definition": {
            "type": f"{EXTENSION_BASE.removesuffix('extensions/')}activities/{object_type}"
        },
    }


def statement(event: LearningEvent, base_url: str) -> dict[str, Any]:
    result = dict(event.result or {})
    standard = {key: value for key, value in result.items() if key in RESULT_KEYS}
    extra = {key: value for key, value in result.items() if key not in RESULT_KEYS}
    if extra:
        standard["extensions"] = _extensions(extra)
    body: dict[str, Any] = {
        "id": str(event.id),
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": base_url, "name": str(event.actor_id)},
        },
        "verb": {
            "id": VERBS.get(event.verb, EXTENSION_BASE + event.verb),
            "display": {"en-US": event.verb},
        },
        "object": activity(base_url, event.object_type, event.object_id),
        "timestamp": event.timestamp.isoformat(),
        "stored": event.stored_at.isoformat(),
        "version": "1.0.3",
    }
    if standard:
        body["result"] = standard
    context: dict[str, Any] = {}
    if event.course_id is not None:
        context["contextActivities"] = {
            "parent": [activity(base_url, "course", str(event.course_id))]
        }
    if event.context:
        context["extensions"] = _extensions(event.context)
    if context:
        body["context"] = context
    return body
