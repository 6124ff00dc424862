"""`searchLessons`: lessons of published courses, in one course or across all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.courses import service as courses
from lms.search.access import readable_clause
from lms.search.models import SearchLesson
from lms.search.service.backend import backend_for, render
from lms.search.service.inputs import checked_page, checked_query
from lms.search.service.typos import corrections
from lms.search.settings import search_settings
from lms.security import Viewer


@dataclass
class LessonHit:
    document: SearchLesson
    score: float
    readable: bool
    title_html: str | None
    body_html: str | None


@dataclass
class LessonSearchResult:
    query: str
    total_count: int
    page: int
    page_size: int
    hits: list[LessonHit]
    corrected_query: str | None = None

    @property
    def has_next_page(self) -> bool:
        return self.page * self.page_size < self.total_count


def search_lessons(
    session: Session,
    viewer: Viewer,
    *,
    query: Any,
    course_id: Any = None,
    pagination: dict | None = None,
) -> LessonSearchResult:
    text, parsed = checked_query(query)
    page, size, offset = checked_page(pagination)
    scope = None
    if course_id is not None:
        scope = courses.get_course(session, viewer, id=course_id).id  # COURSE_NOT_FOUND
    readable = readable_clause(session, viewer, scope)
    backend = backend_for(session)

    def run(q):
        matched = backend.lesson_match(session, q, readable).subquery("m")
        where = [SearchLesson.course_id == scope] if scope is not None else []
        rows = session.execute(
            select(SearchLesson, matched.c.rank, readable, func.count().over())
            .join(matched, matched.c.lesson_id == SearchLesson.lesson_id)
            .where(*where)
            .order_by(matched.c.rank.desc(), SearchLesson.course_id, SearchLesson.position)
            .offset(offset)
            .limit(size)
        ).all()
        if rows or offset == 0:
            return rows, rows[0][3] if rows else 0
        total = session.scalar(
            select(func.count())
            .select_from(SearchLesson)
            .join(matched, matched.c.lesson_id == SearchLesson.lesson_id)
            .where(*where)
        )
        return rows, total or 0

    rows, total = run(parsed)
    corrected = None
    if total < search_settings().typo_below:
        fixes, shown = corrections(session, backend, parsed)
        if fixes:
            fixed = parsed.with_corrections(fixes)
            fixed_rows, fixed_total = run(fixed)
            if fixed_total > total:
                parsed, rows, total = fixed, fixed_rows, fixed_total
                corrected = fixed.corrected_text(shown) if shown else None
    ids = [row[0].lesson_id for row in rows]
    marked = backend.lesson_highlights(session, parsed, ids) if ids else {}
    hits = []
    for lesson, rank, may_read, _total in rows:
        title, body = marked.get(lesson.lesson_id, (lesson.title, None))
        hits.append(
            LessonHit(
                lesson,
                float(rank or 0.0),
                bool(may_read),
                render(title),
                render(body) if may_read else None,  # no text of a lesson one cannot read
            )
        )
    return LessonSearchResult(text, total, page, size, hits, corrected)
