"""Worked examples of the pure rules: late penalties and automatic grading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lms.assessments.grading import parse_number, score
from lms.assessments.late import late_seconds, penalty
from lms.assessments.models import LateUnit, QuestionType

DUE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("late_by", "raw", "percent", "unit", "floor", "taken"),
    [
        (timedelta(0), 90, 10, LateUnit.DAY, 50, 0),  # on time
        (timedelta(seconds=1), 90, 10, LateUnit.DAY, 50, 10),  # a started day counts
        (timedelta(days=3, seconds=1), 90, 10, LateUnit.DAY, 50, 40),  # 4 days: 50 left
        (timedelta(days=6), 90, 10, LateUnit.DAY, 50, 40),  # 30 would be under the floor
        (timedelta(days=1), 40, 10, LateUnit.DAY, 50, 0),  # already under the floor: stays
        (timedelta(hours=2, minutes=30), 80, 2, LateUnit.HOUR, 0, 6),  # 3 hours × 2 %
        (timedelta(days=20), 100, 10, LateUnit.DAY, 0, 100),  # never below zero
        (timedelta(hours=5), 7.5, 12.5, LateUnit.HOUR, 0, 7.5),  # exact in hundredths
    ],
)
def test_late_penalty_worked_examples(late_by, raw, percent, unit, floor, taken):
    seconds = late_seconds(DUE + late_by, DUE)
    assert penalty(raw, 100, seconds, percent=percent, unit=unit, floor=floor) == taken


CHOICES = [{"id": i, "text": i} for i in "abcd"]


@pytest.mark.parametrize(
    ("rule", "selected", "points"),
    [
        ("ALL_OR_NOTHING", ["a", "b"], 3),
        ("ALL_OR_NOTHING", ["a"], 0),
        ("RIGHT_MINUS_WRONG", ["a"], 1.5),  # 1 of 2 right
        ("RIGHT_MINUS_WRONG", ["a", "c"], 0),  # one right, one wrong
        ("RIGHT_MINUS_WRONG", ["c", "d"], 0),  # never below zero
        ("PER_OPTION", ["a", "c"], 1.5),  # a, d judged right of four
    ],
)
def test_multiple_response_partial_credit(rule, selected, points):
    key = {"correct": ["a", "b"], "partialCredit": rule}
    kind = QuestionType.MULTIPLE_RESPONSE
    assert score(kind, 3, {"selected": selected}, key, CHOICES) == points


def test_negative_marking_is_the_guessing_correction():
    key = {"correct": ["a"]}
    kind = QuestionType.SINGLE_CHOICE
    wrong = score(kind, 3, {"selected": ["b"]}, key, CHOICES, negative_marking=True)
    assert wrong == -1.0  # 1/(4-1) of 3 points
    assert score(kind, 3, {"selected": []}, key, CHOICES, negative_marking=True) == 0
    tf = score(
        QuestionType.TRUE_FALSE, 2, {"value": True}, {"value": False}, [], negative_marking=True
    )
    assert tf == -2.0


def test_short_answers_numbers_and_blanks():
    key = {"accepted": ["New  York"], "patterns": [r"nyc?"], "caseSensitive": False}
    text = QuestionType.SHORT_ANSWER
    assert score(text, 1, {"text": " new york "}, key, []) == 1
    assert score(text, 1, {"text": "NYC"}, key, []) == 1
    assert score(text, 1, {"text": "nycx"}, key, []) == 0
    assert score(text, 1, {"text": "new york"}, {**key, "caseSensitive": True}, []) == 0
    units = {"m": 1, "cm": 0.01}
    assert parse_number("1,5 m", units, False) == 1.5
    assert parse_number("150cm", units, False) == 1.5
    assert parse_number("150 km", units, False) is None
    assert parse_number("1.5", units, True) is None
    number = {"value": 0.3, "tolerance": 0, "units": {}}
    assert score(QuestionType.NUMERICAL, 1, {"text": "0.30000000000000004"}, number, []) == 1
    blanks = {"blanks": [{"accepted": ["a"]}, {"accepted": ["b"]}, {"accepted": ["c"]}]}
    fill = QuestionType.FILL_IN_BLANKS
    assert score(fill, 3, {"blanks": ["A", "x", "c"]}, blanks, []) == 2
    assert score(QuestionType.ESSAY, 5, {"text": "…"}, {}, []) is None
