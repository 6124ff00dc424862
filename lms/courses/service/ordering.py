"""Reordering modules or lessons: the new order must name every current id exactly once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from lms.courses import rules
from lms.courses.errors import CourseCode
from lms.courses.models import CourseModule, Lesson


def checked_order(raw_ids: list[Any], current: list[uuid.UUID], *, field: str) -> list[uuid.UUID]:
    """The new order, which must name every current id exactly once and nothing else."""
    given: list[uuid.UUID | str] = []
    for raw in raw_ids:
        try:
            given.append(uuid.UUID(str(raw)))
        except ValueError:
            given.append(str(raw))
    known = set(current)
    duplicates = sorted({str(key) for key in given if given.count(key) > 1})
    unknown = sorted({str(key) for key in given if key not in known})
    missing = sorted(str(key) for key in known if key not in given)
    if duplicates or unknown or missing:
        raise rules.invalid(
            CourseCode.INVALID_ORDER,
            "give every id exactly once: no duplicates, no ids from elsewhere, none left out",
            field,
            duplicateIds=duplicates,
            unknownIds=unknown,
            missingIds=missing,
        )
    return [key for key in given if isinstance(key, uuid.UUID)]


def apply_order(
    session: Session, model: type[CourseModule] | type[Lesson], order: list[uuid.UUID]
) -> None:
    if order:
        session.execute(
            update(model),
            [{"id": key, "position": position} for position, key in enumerate(order)],
        )
