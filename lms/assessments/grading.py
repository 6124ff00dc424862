"""Automatic grading of one response: pure functions, a fraction of the question's points.

Every type gives a fraction in 0..1 (partial credit where the type has parts); negative
marking (a quiz setting) makes a wrong answer to a choice question cost 1/(n-1) of its
points, the guessing correction, so blind guessing averages zero. Essays and file responses
are graded by people: `fraction` returns None for them.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from lms.assessments.models import MANUAL_TYPES, QuestionType

MAX_TEXT = 2000  # longer short answers are not matched (patterns stay cheap)


def normalize(text: str, case_sensitive: bool) -> str:
    """Whitespace runs count as one space and ends are trimmed; case folds unless asked."""
    text = " ".join(str(text).split())
    return text if case_sensitive else text.casefold()


def text_matches(given: str | None, key: dict[str, Any]) -> bool:
    if given is None or len(given) > MAX_TEXT:
        return False
    case = bool(key.get("caseSensitive"))
    answer = normalize(given, case)
    if any(answer == normalize(a, case) for a in key.get("accepted", [])):
        return True
    flags = 0 if case else re.IGNORECASE
    return any(re.fullmatch(p, answer, flags) for p in key.get("patterns", []))


_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def parse_number(text: str | None, units: dict[str, float], unit_required: bool) -> float | None:
    """`12.5 cm` → 0.125 with units {"m": 1, "cm": 0.01}; a decimal comma is accepted."""
    if text is None:
        return None
    found = _NUMBER.match(str(text))
    if not found:
        return None
    number = float(found.group(1).replace(",", "."))
    unit = found.group(2)
    if not unit:
        return None if (unit_required and units) else number
    if unit not in units:
        return None
    return number * float(units[unit])


def _choice(response: dict[str, Any], key: dict[str, Any], options: list[dict]) -> Fraction:
    correct = set(key.get("correct", []))
    selected = set(response.get("selected", []))
    rule = key.get("partialCredit", "ALL_OR_NOTHING")
    if selected == correct:
        return Fraction(1)
    if rule == "RIGHT_MINUS_WRONG" and correct:
        # Canvas's rule: (right picks − wrong picks) / number of right options, never below 0.
        right, wrong = len(selected & correct), len(selected - correct)
        return max(Fraction(0), Fraction(right - wrong, len(correct)))
    if rule == "PER_OPTION" and options:
        # Each option judged on its own: picked when right, left out when wrong.
        ids = {o["id"] for o in options}
        judged = sum(1 for i in ids if (i in selected) == (i in correct))
        return Fraction(judged, len(ids))
    return Fraction(0)


def _parts(given: list, wanted: list) -> Fraction:
    if not wanted:
        return Fraction(0)
    return Fraction(sum(1 for g, w in zip(given, wanted, strict=False) if g == w), len(wanted))


def fraction(
    kind: QuestionType, response: dict[str, Any], key: dict[str, Any], options: list[dict]
) -> Fraction | None:
    """The share of the points this response earns (before negative marking)."""
    if kind in MANUAL_TYPES:
        return None
    if kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_RESPONSE):
        return _choice(response, key, options)
    if kind == QuestionType.TRUE_FALSE:
        return Fraction(int(response.get("value") is key.get("value")))
    if kind == QuestionType.SHORT_ANSWER:
        return Fraction(int(text_matches(response.get("text"), key)))
    if kind == QuestionType.NUMERICAL:
        value = parse_number(
            response.get("text"), key.get("units") or {}, bool(key.get("unitRequired"))
        )
        if value is None:
            return Fraction(0)
        # A relative epsilon, so 0.1 + 0.2 within a tolerance of 0.3 - 0.1 still counts.
        close = abs(value - float(key["value"])) <= float(key.get("tolerance", 0)) + 1e-9 * max(
            1.0, abs(float(key["value"]))
        )
        return Fraction(int(close and math.isfinite(value)))
    if kind == QuestionType.MATCHING:
        pairs, wanted = response.get("pairs", {}), key.get("pairs", {})
        if not wanted:
            return Fraction(0)
        return Fraction(
            sum(1 for left, right in wanted.items() if pairs.get(left) == right), len(wanted)
        )
    if kind == QuestionType.ORDERING:
        return _parts(response.get("order", []), key.get("order", []))
    if kind == QuestionType.FILL_IN_BLANKS:
        blanks, wanted = response.get("blanks", []), key.get("blanks", [])
        if not wanted:
            return Fraction(0)
        right = sum(
            1
            for index, blank in enumerate(wanted)
            if index < len(blanks) and text_matches(blanks[index], blank)
        )
        return Fraction(right, len(wanted))
    return Fraction(0)


def answered(response: dict[str, Any]) -> bool:
    return any(value not in (None, "", [], {}) for value in response.values())


def score(
    kind: QuestionType,
    points: float,
    response: dict[str, Any],
    key: dict[str, Any],
    options: list[dict],
    *,
    negative_marking: bool = False,
) -> float | None:
    """Points earned, rounded to hundredths; None for manually graded types."""
    share = fraction(kind, response, key, options)
    if share is None:
        return None
    choice = kind in (
        QuestionType.SINGLE_CHOICE,
        QuestionType.TRUE_FALSE,
        QuestionType.MULTIPLE_RESPONSE,
    )
    if negative_marking and choice and share == 0 and answered(response):
        n = 2 if kind == QuestionType.TRUE_FALSE else max(2, len(options))
        share = -Fraction(1, n - 1)
    return round(float(Fraction(str(points)) * share), 2)
