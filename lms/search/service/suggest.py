"""`autocomplete`, `trendingSearches`, and the query log they learn from.

The log keeps the query text, a result count and a salted hash of the searcher (only so
the rollup can count distinct people: one person repeating a query cannot make it trend).
The rollup (`roll_up_trending`, a scheduled job) keeps query, searches and searchers:
no user ids, hashed or not, survive into it, and logged rows older than the window go.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, text
from sqlalchemy.orm import Session

from lms.config import get_settings
from lms.models import utcnow
from lms.sanitize import plain_text
from lms.search.dialect import is_postgres
from lms.search.models import SearchCourse, SearchQueryLog, SearchTrending
from lms.search.service.inputs import checked_limit, checked_query
from lms.search.settings import search_settings
from lms.search.text import normalize
from lms.security import Viewer

AUTOCOMPLETE_DEFAULT, AUTOCOMPLETE_MAX = 8, 20
TRENDING_DEFAULT, TRENDING_MAX = 10, 50


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: str  # QUERY or COURSE
    course_id: Any = None
    slug: str | None = None


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def autocomplete(session: Session, viewer: Viewer, *, query: Any, limit: int | None = None):
    """Popular queries and course titles that start with (or resemble) what was typed."""
    text_, _ = checked_query(query)
    limit = checked_limit(limit, AUTOCOMPLETE_DEFAULT, AUTOCOMPLETE_MAX)
    typed = " ".join(normalize(text_).split())
    postgres = is_postgres(session)
    if postgres:  # the default similarity threshold (0.3) for titles and queries alike
        session.execute(text("SELECT set_config('pg_trgm.similarity_threshold', '0.3', true)"))

    def close(column):
        contains = column.like(f"%{_like(typed)}%", escape="\\")
        return contains | column.op("%")(typed) if postgres else contains

    def order(column):
        starts = column.like(f"{_like(typed)}%", escape="\\")
        similar = func.similarity(column, typed).desc() if postgres else func.length(column)
        return [starts.desc(), similar]

    queries = session.execute(
        select(SearchTrending.query)
        .where(close(SearchTrending.query), SearchTrending.query != typed)
        .order_by(*order(SearchTrending.query), SearchTrending.searchers.desc())
        .limit(max(1, limit // 2))
    ).scalars()
    found = [Suggestion(value, "QUERY") for value in queries]
    titles = session.execute(
        select(SearchCourse.title, SearchCourse.course_id, SearchCourse.slug)
        .where(close(SearchCourse.title_norm))
        .order_by(*order(SearchCourse.title_norm), SearchCourse.enrollment_count.desc())
        .limit(limit - len(found))
    )
    found += [Suggestion(title, "COURSE", course_id, slug) for title, course_id, slug in titles]
    return found


def trending_searches(session: Session, viewer: Viewer, *, limit: int | None = None):
    limit = checked_limit(limit, TRENDING_DEFAULT, TRENDING_MAX)
    return session.scalars(
        select(SearchTrending)
        .order_by(SearchTrending.searchers.desc(), SearchTrending.searches.desc())
        .limit(limit)
    ).all()


def _searcher(viewer: Viewer) -> str | None:
    if viewer.user_id is None:
        return None
    key = f"search-log:{get_settings().secret_key}".encode()
    return hmac.new(key, viewer.user_id.bytes, hashlib.sha256).hexdigest()[:32]


def log_query(session: Session, viewer: Viewer, *, query: str, results: int) -> None:
    """Record a search (the first page of a course search) for trending and suggestions."""
    text_ = plain_text(query).lower()[:200]
    if text_:
        if is_postgres(session):
            # Nobody is told a search was logged: a crash may lose the last fraction of a
            # second of the log (trending is a rollup of thousands), so the search does not
            # wait for the WAL flush. Never a risk of corruption; this transaction only.
            session.execute(text("SET LOCAL synchronous_commit TO off"))
        # One INSERT, not a unit of work: this runs after every first page of results.
        session.execute(
            insert(SearchQueryLog.__table__).values(
                query=text_, searcher=_searcher(viewer), results=results
            )
        )


def roll_up_trending(session: Session) -> int:
    """Recompute the trending table from the window's log (idempotent); drop older rows."""
    settings = search_settings()
    now = utcnow()
    session.execute(
        delete(SearchQueryLog).where(
            SearchQueryLog.created_at < now - timedelta(days=settings.trending_days)
        )
    )
    session.execute(delete(SearchTrending))
    searchers = func.count(func.distinct(SearchQueryLog.searcher))
    rollup = (
        select(SearchQueryLog.query, func.count(), searchers, literal(now))
        .where(SearchQueryLog.results > 0)
        .group_by(SearchQueryLog.query)
        .having(searchers >= settings.trending_min_searchers)
    )
    session.execute(
        insert(SearchTrending).from_select(
            ["query", "searches", "searchers", "rolled_up_at"], rollup
        )
    )
    return session.scalar(select(func.count()).select_from(SearchTrending)) or 0
