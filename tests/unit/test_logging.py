"""The log formats every `lms` process writes (lms/logs.py)."""

from __future__ import annotations

import json
import logging

from lms.logs import JsonFormatter, RequestIdFilter, TextFormatter, request_id


def record(message: str, *, exc: BaseException | None = None, **extra) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "lms.test", "levelname": "INFO", "levelno": 20, "msg": message, **extra}
    )
    if exc is not None:
        made.exc_info = (type(exc), exc, exc.__traceback__)
    RequestIdFilter().filter(made)
    return made


def test_json_lines_carry_the_request_id_extras_and_traceback():
    try:
        raise ValueError("broken")
    except ValueError as error:
        raised = error
    token = request_id.set("abc123def456")
    try:
        line = JsonFormatter().format(record("it failed", exc=raised, code="X_FAILED"))
    finally:
        request_id.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "it failed"
    assert (entry["level"], entry["logger"], entry["request_id"]) == (
        "INFO",
        "lms.test",
        "abc123def456",
    )
    assert entry["code"] == "X_FAILED"
    assert entry["exc"].startswith("Traceback") and "ValueError: broken" in entry["exc"]


def test_text_lines_name_the_request_only_inside_one():
    outside = TextFormatter().format(record("idle"))
    assert outside.endswith(" INFO lms.test: idle")
    token = request_id.set("abc123def456")
    try:
        inside = TextFormatter().format(record("busy"))
    finally:
        request_id.reset(token)
    assert inside.endswith(" INFO lms.test [request abc123def456]: busy")
