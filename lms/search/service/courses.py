"""`searchCourses`: match, filter, sort, page, highlight, facet; typo correction when
exact matching finds too little."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, case, desc, func, select
from sqlalchemy.orm import Session

from lms.courses import service as courses
from lms.search.models import SearchCourse
from lms.search.service.backend import backend_for, render
from lms.search.service.counting import count_matches
from lms.search.service.facets import checked_facets, checked_filters
from lms.search.service.inputs import checked_page, checked_query
from lms.search.service.typos import corrections
from lms.search.settings import search_settings
from lms.search.text import Query
from lms.security import Viewer

# What a hit shows: every column but the documents and the (long) description.
HIT_COLUMNS = [
    column
    for column in SearchCourse.__table__.c
    if column.name not in ("document", "title_document", "description")
]


# A sort is a list of (key, descending); the course id breaks ties.
def _relevance(match) -> list:
    tier = [] if match.tier is None else [(case((match.tier, 1), else_=0), True)]
    return [*tier, (match.rank, True), (SearchCourse.enrollment_count, True)]


SORTS = {
    "RELEVANCE": _relevance,
    "NEWEST": lambda match: [(SearchCourse.published_at, True)],
    "RATING": lambda match: [
        (SearchCourse.rating_average, True),
        (SearchCourse.rating_count, True),
    ],
    "POPULARITY": lambda match: [(SearchCourse.enrollment_count, True)],
    "PRICE_LOW_TO_HIGH": lambda match: [(SearchCourse.price_amount, False)],
    "PRICE_HIGH_TO_LOW": lambda match: [(SearchCourse.price_amount, True)],
}


def page_of(statement: Select, keys: list, offset: int, size: int, marks: list) -> Select:
    """One page of `statement` (course ids with their `score`) in the order of `keys`, with
    each hit's columns and `marks` (highlights) joined back by id. The statement that
    ranks stays narrow: sorting every match carries its keys, not the hits' columns."""
    score = statement.selected_columns.score
    added, order = [], []  # (name, descending)
    for number, (key, descending) in enumerate([*keys, (SearchCourse.course_id, False)]):
        if key.compare(score.element):  # the rank: computed once, as the score
            order.append((score.name, descending))
            continue
        added.append(key.label(f"sort_{number}"))
        order.append((added[-1].name, descending))
    ids = (
        statement.add_columns(*added)
        .order_by(*[desc(name) if down else name for name, down in order])
        .offset(offset)
        .limit(size)
        .subquery("page")
    )
    counted = [ids.c.matches] if "matches" in ids.c else []
    return (
        select(*HIT_COLUMNS, ids.c.score, *counted, *marks)
        .join_from(ids, SearchCourse, SearchCourse.course_id == ids.c.course_id)
        .order_by(*[ids.c[name].desc() if down else ids.c[name] for name, down in order])
    )


@dataclass
class CourseHit:
    document: Any  # a row of HIT_COLUMNS
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
    # False past `exact_count_up_to` matches: then the counts are estimates.
    total_count_is_exact: bool = True
    facet_counts_are_exact: bool = True

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
    backend = backend_for(session)

    conditions = checked.every(SearchCourse.__table__.c)

    relevance = sort in (None, "RELEVANCE")

    def run(q: Query) -> tuple[list, int | None]:
        """The page, and the total when it is known without counting (a short last page, or
        every match ranked)."""
        match = backend.course_match(session, q)
        ranked = select(SearchCourse.course_id, match.rank.label("score"))
        hits = match.apply(ranked).where(*conditions)
        marks = backend.highlight_columns(session, q)

        def page(statement: Select, keys: list) -> list:
            return session.execute(page_of(statement, keys, offset, size, marks)).all()

        if match.tier is not None and relevance:
            # Title matches come first: when they fill the page, only they are ranked.
            tier = ranked.where(*conditions) if match.tier_implies_match else hits
            first = page(
                tier.where(match.tier),
                [(match.rank, True), (SearchCourse.enrollment_count, True)],
            )
            if len(first) == size:  # the tier holds this page and the pages before it
                return first, None
        if relevance:  # every match is ranked: counting them as well costs nothing more
            hits = hits.add_columns(func.count().over().label("matches"))
        page_rows = page(hits, order(match))
        if 0 < len(page_rows) < size or (offset == 0 and not page_rows):
            return page_rows, offset + len(page_rows)
        return page_rows, page_rows[0].matches if relevance and page_rows else None

    rows, total = run(parsed)
    corrected = None
    typo_below = search_settings().typo_below
    if (total if total is not None else typo_below) < typo_below:
        fixes, shown = corrections(session, backend, parsed)
        if fixes:
            fixed = parsed.with_corrections(fixes)
            fixed_rows, fixed_total = run(fixed)
            if fixed_total is None or fixed_total > total:
                parsed, rows, total = fixed, fixed_rows, fixed_total
                corrected = fixed.corrected_text(shown) if shown else None
    # Counted once, for the query finally shown (as typed or corrected).
    counts = count_matches(
        session,
        backend,
        backend.course_match(session, parsed),
        checked,
        wanted,
        search_settings().exact_count_up_to,
        known_total=total,
        query=parsed,
    )
    marked = backend.course_highlights(session, parsed, rows) if rows else {}
    hits = [
        CourseHit(
            row,
            float(row.score or 0.0),
            render(marked.get(row.course_id, (None, None))[0]),
            render(marked.get(row.course_id, (None, None))[1]),
        )
        for row in rows
    ]
    return CourseSearchResult(
        text,
        counts.total,
        page,
        size,
        hits,
        counts.facets,
        corrected,
        backend.name,
        counts.total_is_exact,
        counts.facets_are_exact,
    )


def courses_by_id(session: Session, viewer: Viewer, course_ids: list[uuid.UUID]) -> list:
    """Batch read for `CourseSearchHit.course`: the course when the viewer may see it."""
    return courses.courses_by_id(session, viewer, course_ids)
