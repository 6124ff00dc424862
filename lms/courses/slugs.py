"""Course slugs: generated from the title, unique across current and former slugs.

The slug follows the title while a course is a draft that was never published; after
that it changes only when an instructor sets one explicitly. A slug that a published course
once had stays reserved for that course (`course_slug_history`), so old links keep
resolving to it and can never be taken over by another course.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from sqlalchemy import delete, select, union_all
from sqlalchemy.orm import Session

from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseSlug
from lms.courses.rules import invalid
from lms.errors import Conflict

SLUG_MAX = 80
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """`"Intro à Python 3!"` → `"intro-a-python-3"`; "course" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_WORD.sub("-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "course"


def checked_slug(value: str) -> str:
    slug = (value or "").strip().lower()
    if not (0 < len(slug) <= SLUG_MAX and _SLUG.match(slug)):
        raise invalid(
            CourseCode.INVALID_SLUG,
            f"slugs are lowercase letters, digits and single hyphens, at most {SLUG_MAX} "
            "characters",
            "slug",
        )
    return slug


def _owners(session: Session, slugs: list[str]) -> dict[str, uuid.UUID]:
    """Which course holds (or held) each of `slugs`."""
    query = union_all(
        select(Course.slug, Course.id).where(Course.slug.in_(slugs)),
        select(CourseSlug.slug, CourseSlug.course_id).where(CourseSlug.slug.in_(slugs)),
    )
    return {slug: course_id for slug, course_id in session.execute(query)}


def available_slug(session: Session, title: str, course_id: uuid.UUID | None = None) -> str:
    """A free slug for `title`: the plain slug, else `-2`, `-3`… (one query per 50 tries)."""
    base = slugify(title)
    for batch in range(0, 10_000, 50):
        candidates = [
            base if n == 1 else f"{base[: SLUG_MAX - 6]}-{n}" for n in range(batch + 1, batch + 51)
        ]
        taken = _owners(session, candidates)
        for candidate in candidates:
            if taken.get(candidate, course_id) == course_id:
                return candidate
    return f"{base[: SLUG_MAX - 33]}-{uuid.uuid4().hex}"


def change_slug(session: Session, course: Course, new_slug: str) -> None:
    """Give `course` a new slug. Once the course has been published its old slug stays in the
    history and keeps resolving; a never-published draft's old slug is simply released."""
    if new_slug == course.slug:
        return
    holder = _owners(session, [new_slug]).get(new_slug)
    if holder is not None and holder != course.id:
        raise Conflict(f"the slug {new_slug!r} is taken", code=CourseCode.SLUG_TAKEN, field="slug")
    # Reclaiming one of the course's own former slugs moves it back out of the history.
    session.execute(delete(CourseSlug).where(CourseSlug.slug == new_slug))
    if course.published_at is not None:
        session.add(CourseSlug(slug=course.slug, course_id=course.id))
    course.slug = new_slug


def course_id_for_slug(session: Session, slug: str) -> uuid.UUID | None:
    """The course that has or had `slug` (one statement)."""
    return _owners(session, [slug.strip().lower()]).get(slug.strip().lower())
