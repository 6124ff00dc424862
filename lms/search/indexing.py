"""Keeping the index fresh: requests in the writer's transaction, documents built by jobs.

`request_reindex(session, course_id)` is what the Courses service calls on every change
that could affect search (in the same transaction: the outbox publishes the job after
commit, a rollback requests nothing). It also marks the course pending, so `searchHealth`
can report how far the index lags behind.

`index_course` builds a course's documents from what the Courses service hands out for
search (`lms.courses.service.course_document`: fields, tags, module titles, lessons).
On PostgreSQL the set-based statements (`rebuild`, `refresh_counters`) still name the
courses' tables in their SQL text: a bulk rebuild of 100,000 courses cannot go through one
course at a time.
"""

from __future__ import annotations

import html
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from lms.db import autocommit_engine
from lms.errors import Conflict
from lms.jobs.service import enqueue
from lms.models import utcnow
from lms.sanitize import visible_text
from lms.search import fts
from lms.search.dialect import insert_ignoring_duplicates, is_postgres, upsert
from lms.search.models import SearchCourse, SearchLesson, SearchPending, SearchTerm
from lms.search.text import TEXT_CONFIGS as _CONFIGS
from lms.search.text import clean, normalize, text_config, words

if TYPE_CHECKING:
    from lms.config import Settings
    from lms.courses.service import CourseDocument

log = logging.getLogger(__name__)
INDEX_JOB = "search.index_course"
_REQUESTED = "lms.search.requested"
TERM_MIN, TERM_MAX = 3, 64


def request_reindex(session: Session, course_id: uuid.UUID) -> None:
    """Ask for the course's documents to be rebuilt after this transaction commits."""
    requested = session.info.setdefault(_REQUESTED, set())
    if course_id in requested:  # one job per course per transaction
        return
    requested.add(course_id)
    upsert(
        session, SearchPending, {"course_id": course_id, "requested_at": utcnow()}, ["course_id"]
    )
    try:
        enqueue(
            session, INDEX_JOB, {"course_id": str(course_id)}, subject=("course", str(course_id))
        )
    except Conflict as error:
        if error.code != "QUEUE_DRAINING":
            raise
        # A draining queue must not block an educator's edit: the pending row stays and
        # the scheduled sweep (`index_pending`) indexes it later.
        log.warning("search: queue draining, course %s left pending", course_id)


def _courses():
    # Imported when used: the courses service requests reindexing, so it imports this module.
    from lms.courses import service

    return service


def _plain(html_text: str | None) -> str:
    return clean(html.unescape(visible_text(html_text)))


def index_course(session: Session, course_id: uuid.UUID) -> str:
    """Rebuild one course's documents (or remove them); returns what was done."""
    seen = session.scalar(
        select(SearchPending.requested_at).where(SearchPending.course_id == course_id)
    )
    course = _courses().course_document(session, course_id)
    if course is None:  # gone or not published
        _remove(session, course_id)
        outcome = "removed"
    else:
        _store(session, course)
        outcome = "indexed"
    if seen is not None:  # a change requested meanwhile keeps its pending row
        session.execute(
            delete(SearchPending).where(
                SearchPending.course_id == course_id, SearchPending.requested_at <= seen
            )
        )
    return outcome


def _remove(session: Session, course_id: uuid.UUID) -> None:
    session.execute(delete(SearchLesson).where(SearchLesson.course_id == course_id))
    session.execute(delete(SearchCourse).where(SearchCourse.course_id == course_id))
    if not is_postgres(session):
        fts.remove_course(session, course_id)


def _store(session: Session, course: CourseDocument) -> None:
    tags, lessons = course.tags, course.lessons
    config = text_config(course.language)
    description = _plain(course.description)
    outline = " ".join([*course.module_titles, *(lesson.title for lesson in lessons)])
    row = {
        "course_id": course.id,
        "slug": course.slug,
        "title": clean(course.title),
        "title_norm": normalize(course.title),
        "description": description,
        "tags": " ".join(tags),
        "category": course.category,
        "difficulty": course.difficulty.value,
        "language": course.language,
        "text_config": config,
        "price_amount": course.price_amount,
        "currency": course.currency,
        "rating_average": course.rating_average,
        "rating_count": course.rating_count,
        "enrollment_count": course.enrollment_count,
        "duration_seconds": sum(lesson.duration_seconds for lesson in lessons),
        "lesson_count": len(lessons),
        "published_at": course.published_at,
        "indexed_at": utcnow(),
    }
    upsert(session, SearchCourse, row, ["course_id"])
    session.execute(delete(SearchLesson).where(SearchLesson.course_id == course.id))
    lesson_rows = [
        {
            "lesson_id": lesson.id,
            "course_id": course.id,
            "module_id": lesson.module_id,
            "course_title": row["title"],
            "title": clean(lesson.title),
            "body": _plain(lesson.content),
            "type": lesson.type.value,
            "is_free_preview": lesson.is_free_preview,
            "language": course.language,
            "text_config": config,
            "position": lesson.position,
        }
        for lesson in lessons
    ]
    if lesson_rows:
        session.execute(SearchLesson.__table__.insert(), lesson_rows)
    if is_postgres(session):
        _pg_documents(session, course.id, outline)
    else:
        fts.store_course(session, row, outline, lesson_rows)
    add_terms(session, [row["title"], row["tags"], course.category or "", description, outline])


def add_terms(session: Session, texts: list[str]) -> None:
    """New words become typo candidates at once; `refresh_terms` counts them properly."""
    found = {
        w for t in texts for w in words(t) if TERM_MIN <= len(w) <= TERM_MAX and not w.isdigit()
    }
    insert_ignoring_duplicates(
        session, SearchTerm, [{"term": word, "documents": 1} for word in sorted(found)]
    )


# Weights: title A, tags and category B, description C, module and lesson titles D.
_PG_COURSE_DOCUMENT = text(
    """
    UPDATE search_courses SET title_document = t.title_document, document = t.title_document
     || setweight(to_tsvector(text_config::regconfig, tags || ' ' || coalesce(category, '')),
                  'B')
     || setweight(to_tsvector(text_config::regconfig, description), 'C')
     || setweight(to_tsvector(text_config::regconfig, :outline), 'D')
    FROM (SELECT setweight(to_tsvector(text_config::regconfig, title), 'A') AS title_document
          FROM search_courses WHERE course_id = :course_id) t
    WHERE course_id = :course_id
    """
)
_PG_LESSON_DOCUMENTS = text(
    """
    UPDATE search_lessons SET
        title_document = setweight(to_tsvector(text_config::regconfig, title), 'A'),
        body_document = setweight(to_tsvector(text_config::regconfig, body), 'C')
    WHERE course_id = :course_id
    """
)


def _pg_documents(session: Session, course_id: uuid.UUID, outline: str) -> None:
    session.execute(_PG_COURSE_DOCUMENT, {"course_id": course_id, "outline": outline})
    session.execute(_PG_LESSON_DOCUMENTS, {"course_id": course_id})


def refresh_terms(session: Session) -> int:
    """Recount the word table from the course documents (drops words nobody uses)."""
    if is_postgres(session):
        session.execute(delete(SearchTerm))
        session.execute(
            text(
                """
                INSERT INTO search_terms (term, documents)
                SELECT word, ndoc FROM ts_stat($$
                    SELECT to_tsvector('lyceum_simple', title || ' ' || tags || ' '
                        || coalesce(category, '') || ' ' || description)
                    FROM search_courses $$)
                WHERE length(word) BETWEEN :low AND :high AND word !~ '^[0-9]+$'
                """
            ),
            {"low": TERM_MIN, "high": TERM_MAX},
        )
    else:
        counts: dict[str, int] = {}
        rows = session.execute(
            select(
                SearchCourse.title,
                SearchCourse.tags,
                SearchCourse.category,
                SearchCourse.description,
            )
        )
        for row in rows:
            for word in set(words(" ".join(part or "" for part in row))):
                if TERM_MIN <= len(word) <= TERM_MAX and not word.isdigit():
                    counts[word] = counts.get(word, 0) + 1
        session.execute(delete(SearchTerm))
        if counts:
            session.execute(
                SearchTerm.__table__.insert(),
                [{"term": word, "documents": n} for word, n in counts.items()],
            )
    return session.scalar(select(func.count()).select_from(SearchTerm)) or 0


_COUNTERS = text(
    """
    UPDATE search_courses SET enrollment_count = c.enrollment_count,
        rating_average = c.rating_average, rating_count = c.rating_count
    FROM courses c
    WHERE c.id = search_courses.course_id
      AND (c.enrollment_count <> search_courses.enrollment_count
           OR c.rating_average <> search_courses.rating_average
           OR c.rating_count <> search_courses.rating_count)
    """
)


def refresh_counters(session: Session) -> int:
    """Copy enrollment and rating counters (owned by other modules, changed without a course
    edit) into the documents, for sorting by popularity and rating and the rating facet."""
    return session.execute(_COUNTERS).rowcount


def pending_course_ids(session: Session, older_than: datetime, limit: int = 500) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(SearchPending.course_id)
            .where(SearchPending.requested_at <= older_than)
            .order_by(SearchPending.requested_at)
            .limit(limit)
        )
    )


def published_course_ids(session: Session) -> list[uuid.UUID]:
    """Every course the index should hold, and every one it holds (to drop stale ones)."""
    wanted = _courses().published_course_ids(session)
    held = set(session.scalars(select(SearchCourse.course_id)))
    return sorted(wanted | held)


# --- rebuilding everything -------------------------------------------------------------

# On PostgreSQL the whole index is rebuilt in a few set-based statements (a catalog of
# 100,000 courses takes minutes, not the hours of one job per course). HTML is stripped with
# a regular expression here; index jobs later rebuild each changed course exactly.
_PG_BULK = (
    "DELETE FROM search_lessons",
    "DELETE FROM search_courses",
    "DELETE FROM search_pending WHERE requested_at <= :started",
    # Documents built in the INSERT itself: one row version per course, not three (an
    # UPDATE per document left two dead versions of every row and a table three times the
    # size, slower to search until vacuumed).
    """
    INSERT INTO search_courses (course_id, slug, title, title_norm, description, tags,
        category, difficulty, language, text_config, price_amount, currency, rating_average,
        rating_count, enrollment_count, duration_seconds, lesson_count, published_at,
        indexed_at, title_document, document)
    SELECT b.*, t.title_document, t.title_document
         || setweight(to_tsvector(b.text_config::regconfig,
                                  b.tags || ' ' || coalesce(b.category, '')), 'B')
         || setweight(to_tsvector(b.text_config::regconfig, b.description), 'C')
         || setweight(to_tsvector(b.text_config::regconfig, concat_ws(' ',
                (SELECT string_agg(m.title, ' ' ORDER BY m.position, m.id)
                 FROM course_modules m WHERE m.course_id = b.course_id),
                (SELECT string_agg(l.title, ' ' ORDER BY l.position, l.id)
                 FROM lessons l WHERE l.course_id = b.course_id))), 'D')
    FROM (
        SELECT c.id AS course_id, c.slug, c.title, lower(unaccent(c.title)) AS title_norm,
            btrim(regexp_replace(regexp_replace(c.description, '<[^>]*>', ' ', 'g'), '\\s+',
                  ' ', 'g')) AS description,
            coalesce((SELECT string_agg(t.tag, ' ') FROM course_tags t
                      WHERE t.course_id = c.id), '') AS tags,
            c.category, c.difficulty, c.language, CASE split_part(lower(c.language), '-', 1)
                {config_cases} ELSE 'lyceum_simple' END AS text_config,
            c.price_amount, c.currency, c.rating_average, c.rating_count, c.enrollment_count,
            coalesce(l.seconds, 0), coalesce(l.lessons, 0), c.published_at, :started
        FROM courses c
        LEFT JOIN (SELECT course_id, sum(duration_seconds) AS seconds, count(*) AS lessons
                   FROM lessons GROUP BY course_id) l ON l.course_id = c.id
        WHERE c.status = 'PUBLISHED'
    ) b,
    LATERAL (SELECT setweight(to_tsvector(b.text_config::regconfig, b.title), 'A')
                 AS title_document) t
    """,
    """
    INSERT INTO search_lessons (lesson_id, course_id, module_id, course_title, title, body,
        type, is_free_preview, language, text_config, position, title_document,
        body_document)
    SELECT l.id, l.course_id, l.module_id, s.title, l.title, b.body, l.type,
        l.is_free_preview, s.language, s.text_config, l.position,
        setweight(to_tsvector(s.text_config::regconfig, l.title), 'A'),
        setweight(to_tsvector(s.text_config::regconfig, b.body), 'C')
    FROM lessons l
    JOIN search_courses s ON s.course_id = l.course_id,
    LATERAL (SELECT btrim(regexp_replace(regexp_replace(l.content, '<[^>]*>', ' ', 'g'),
                                         '\\s+', ' ', 'g')) AS body) b
    """,
)


def rebuild(session: Session) -> int:
    """Index every published course again; returns the number of course documents."""
    if not is_postgres(session):
        for course_id in published_course_ids(session):
            index_course(session, course_id)
    else:
        cases = " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in _CONFIGS.items())
        started = utcnow()
        for statement in _PG_BULK:
            session.execute(text(statement.replace("{config_cases}", cases)), {"started": started})
    refresh_terms(session)
    return session.scalar(select(func.count()).select_from(SearchCourse)) or 0


INDEX_TABLES = ("search_courses", "search_lessons", "search_terms")


def vacuum(settings: Settings | None = None) -> None:
    """After a rebuild has committed: VACUUM (ANALYZE) the index tables. Freshly bulk-loaded
    rows have no visibility map and no hint bits, so until autovacuum comes by, every GIN
    bitmap scan rechecks each matching row in the heap (at 100,000 courses the search SQL's
    p95 was 174 ms before, 31 ms after). VACUUM cannot run in a transaction: it takes its
    own autocommit connection. Nothing to do on SQLite."""
    engine = autocommit_engine(settings)
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(INDEX_TABLES)}")
