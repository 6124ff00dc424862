"""`searchCourses`: match, filter, sort, page, highlight, facet; typo correction when
exact matching finds too little."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.courses.access import visible_clause
from lms.courses.models import Course
from lms.search.models import SearchCourse
from lms.search.service.backend import backend_for, render
from lms.search.service.facets import (
    Filters,
    checked_facets,
    checked_filters,
    facet_results,
    facet_statement,
)
from lms.search.service.inputs import checked_page, checked_query
from lms.search.service.typos import corrections
from lms.search.settings import search_settings
from lms.search.text import Query
from lms.security import Viewer

SORTS = {
    "RELEVANCE": lambda m: [m.c.rank.desc(), SearchCourse.enrollment_count.desc()],
    "NEWEST": lambda m: [SearchCourse.published_at.desc()],
    "RATING": lambda m: [SearchCourse.rating_average.desc(), SearchCourse.rating_count.desc()],
    "POPULARITY": lambda m: [SearchCourse.enrollment_count.desc()],
    "PRICE_LOW_TO_HIGH": lambda m: [SearchCourse.price_amount.asc()],
    "PRICE_HIGH_TO_LOW": lambda m: [SearchCourse.price_amount.desc()],
}


@dataclass
class CourseHit:
    document: SearchCourse
    score: float
    title_html: str | None = None
    description_html: str | None = None


@dataclass
class CourseSearchResult:
    query: str
    total_count: int
    page: int
    page_size: int
    hits: list[CourseHit]
    facets: list[dict] = field(default_factory=list)
    corrected_query: str | None = None
    backend: str = ""

    @property
    def has_next_page(self) -> bool:
        return self.page * self.page_size < self.total_count


def search_courses(
    session: Session,
    viewer: Viewer,
    *,
    query: Any,
    filters: dict | None = None,
    pagination: dict | None = None,
    sort: str | None = None,
    include_facets: bool | None = False,
    facets: list[str] | None = None,
) -> CourseSearchResult:
    text, parsed = checked_query(query)
    page, size, offset = checked_page(pagination)
    checked = checked_filters(filters)
    wanted = checked_facets(include_facets, facets)
    order = SORTS[sort or "RELEVANCE"]
    backend = backend_for(session, checked.values.get("language"))

    def run(q: Query) -> tuple[list, int]:
        matched = backend.course_match(session, q).subquery("m")
        conditions = [
            c for conds in checked.conditions(SearchCourse.__table__.c).values() for c in conds
        ]
        statement = (
            select(SearchCourse, matched.c.rank, func.count().over())
            .join(matched, matched.c.course_id == SearchCourse.course_id)
            .where(*conditions)
            .order_by(*order(matched), SearchCourse.course_id)
            .offset(offset)
            .limit(size)
        )
        rows = session.execute(statement).all()
        if rows:
            return rows, rows[0][2]
        total = session.scalar(
            select(func.count())
            .select_from(SearchCourse)
            .join(matched, matched.c.course_id == SearchCourse.course_id)
            .where(*conditions)
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
    ids = [row[0].course_id for row in rows]
    marked = backend.course_highlights(session, parsed, ids) if ids else {}
    hits = [
        CourseHit(
            row[0],
            float(row[1] or 0.0),
            render(marked.get(row[0].course_id, (None, None))[0]),
            render(marked.get(row[0].course_id, (None, None))[1]),
        )
        for row in rows
    ]
    facet_rows = []
    if wanted:
        facet_rows = facet_results(
            session.execute(_facets(backend, session, parsed, checked, wanted)), checked, wanted
        )
    return CourseSearchResult(text, total, page, size, hits, facet_rows, corrected, backend.name)


def _facets(backend, session: Session, parsed: Query, filters: Filters, wanted: list[str]):
    matched = backend.course_match(session, parsed).subquery("m")
    base = select(
        SearchCourse.category,
        SearchCourse.difficulty,
        SearchCourse.language,
        SearchCourse.price_amount,
        SearchCourse.rating_average,
        SearchCourse.duration_seconds,
    ).join(matched, matched.c.course_id == SearchCourse.course_id)
    return facet_statement(base, filters, wanted)


def courses_by_id(session: Session, viewer: Viewer, course_ids: list[uuid.UUID]) -> list:
    """Batch read for `CourseSearchHit.course`: the course when the viewer may see it."""
    rows = session.scalars(select(Course).where(Course.id.in_(course_ids), visible_clause(viewer)))
    found = {course.id: course for course in rows}
    return [found.get(key) for key in course_ids]
