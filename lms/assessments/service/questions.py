"""Questions from API input: checked per type, stored as prompt, options and answer key.

The key (right options, accepted answers, tolerance, pairs, order) never leaves the server
for students; `public_options` is what an attempt shows.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from lms.assessments.models import QuestionType
from lms.errors import ValidationFailed
from lms.sanitize import plain_text

CHOICE = (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_RESPONSE)
PARTIAL_RULES = ("ALL_OR_NOTHING", "RIGHT_MINUS_WRONG", "PER_OPTION")
BLANK = re.compile(r"\[\[(\d+)\]\]")


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code="BAD_USER_INPUT", field=field)


def _options(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    options, seen = [], set()
    for index, item in enumerate(raw or []):
        # Random ids when the author gives none: ordering's ids must not spell the answer.
        option_id = str(item.get("id") or secrets.token_hex(4))
        if not 1 <= len(option_id) <= 40 or option_id in seen:
            raise _bad(f"option {index + 1}: ids must be unique, 1 to 40 characters", "options")
        seen.add(option_id)
        text = plain_text(item.get("text") or "")
        if not text.strip():
            raise _bad(f"option {index + 1} has no text", "options")
        options.append(
            {
                "id": option_id,
                "text": text[:1000],
                "side": item.get("side"),
                "correct": bool(item.get("correct")),
                "match_id": item.get("match_id"),
            }
        )
    return options


def _texts(raw: dict[str, Any], field: str) -> dict[str, Any]:
    accepted = [str(a) for a in raw.get("accepted_answers") or [] if str(a).strip()]
    patterns = [str(p) for p in raw.get("answer_patterns") or []]
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise _bad(f"answer pattern {pattern!r} is not a regular expression: {error}", field)
    if not accepted and not patterns:
        raise _bad("give at least one accepted answer or pattern", field)
    return {
        "accepted": accepted,
        "patterns": patterns,
        "caseSensitive": bool(raw.get("case_sensitive")),
    }


def build(raw: dict[str, Any]) -> dict[str, Any]:
    """Column values of a question from a `QuestionInput`."""
    kind = QuestionType(raw["type"])
    prompt = plain_text(raw.get("prompt") or "")
    if not prompt.strip() or len(prompt) > 10_000:
        raise _bad("a question needs a prompt of up to 10,000 characters", "prompt")
    points = float(raw.get("points", 1.0) if raw.get("points") is not None else 1.0)
    if not 0 < points <= 1000:
        raise _bad("points must be above 0 and at most 1000", "points")
    options = _options(raw.get("options"))
    key: dict[str, Any] = {}
    if kind in CHOICE:
        correct = [o["id"] for o in options if o["correct"]]
        if len(options) < 2 or not correct:
            raise _bad("a choice question needs two options and a right one", "options")
        if kind == QuestionType.SINGLE_CHOICE and len(correct) != 1:
            raise _bad("a single-choice question has exactly one right option", "options")
        rule = raw.get("partial_credit") or "ALL_OR_NOTHING"
        if rule not in PARTIAL_RULES:
            raise _bad(f"partialCredit is one of {PARTIAL_RULES}", "partialCredit")
        key = {"correct": correct, "partialCredit": rule}
    elif kind == QuestionType.TRUE_FALSE:
        if raw.get("correct_boolean") is None:
            raise _bad("a true/false question needs correctBoolean", "correctBoolean")
        key, options = {"value": bool(raw["correct_boolean"])}, []
    elif kind == QuestionType.SHORT_ANSWER:
        key, options = _texts(raw, "acceptedAnswers"), []
    elif kind == QuestionType.NUMERICAL:
        if raw.get("numeric_value") is None:
            raise _bad("a numerical question needs numericValue", "numericValue")
        tolerance = float(raw.get("tolerance") or 0)
        if tolerance < 0:
            raise _bad("tolerance cannot be negative", "tolerance")
        units = {u["name"]: float(u["multiplier"]) for u in raw.get("units") or []}
        key = {
            "value": float(raw["numeric_value"]),
            "tolerance": tolerance,
            "units": units,
            "unitRequired": bool(raw.get("unit_required")),
        }
        options = []
    elif kind == QuestionType.MATCHING:
        left = [o for o in options if o["side"] == "LEFT"]
        right = {o["id"] for o in options if o["side"] == "RIGHT"}
        if len(left) < 2 or any(o["match_id"] not in right for o in left):
            raise _bad("matching needs 2+ LEFT options, each with a RIGHT matchId", "options")
        key = {"pairs": {o["id"]: o["match_id"] for o in left}}
    elif kind == QuestionType.ORDERING:
        if len(options) < 2:
            raise _bad("an ordering question needs two items", "options")
        key = {"order": [o["id"] for o in options]}  # the order given is the right one
    elif kind == QuestionType.FILL_IN_BLANKS:
        blanks = raw.get("blanks") or []
        numbers = sorted(int(n) for n in BLANK.findall(prompt))
        if not blanks or numbers != list(range(1, len(blanks) + 1)):
            raise _bad("the prompt must mark blanks [[1]] … [[n]], one per blank", "blanks")
        key = {"blanks": [_texts(b, "blanks") for b in blanks]}
        options = []
    else:  # essay, file response: graded by people
        options = []
    stored = [{"id": o["id"], "text": o["text"], "side": o["side"]} for o in options]
    return {
        "type": kind,
        "prompt": prompt,
        "points": points,
        "options": stored,
        "key": key,
        "feedback": plain_text(raw.get("feedback") or ""),
    }


def blank_count(prompt: str) -> int:
    return len(BLANK.findall(prompt))
