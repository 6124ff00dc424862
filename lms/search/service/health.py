"""`searchHealth`: document counts and how far the index lags behind course changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.models import utcnow
from lms.search.dialect import is_postgres
from lms.search.models import SearchCourse, SearchLesson, SearchPending, SearchTerm
from lms.security import Viewer

LAG_DEGRADED_SECONDS = 60


@dataclass(frozen=True)
class SearchHealth:
    status: str
    backend: str
    course_documents: int
    lesson_documents: int
    terms: int
    pending_courses: int
    lag_seconds: float
    last_indexed_at: datetime | None


def search_health(session: Session, viewer: Viewer) -> SearchHealth:
    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    oldest = session.scalar(select(func.min(SearchPending.requested_at)))
    lag = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
    return SearchHealth(
        status="DEGRADED" if lag > LAG_DEGRADED_SECONDS else "OK",
        backend="POSTGRESQL" if is_postgres(session) else "SQLITE_FTS5",
        course_documents=count(SearchCourse),
        lesson_documents=count(SearchLesson),
        terms=count(SearchTerm),
        pending_courses=count(SearchPending),
        lag_seconds=round(lag, 3),
        last_indexed_at=session.scalar(select(func.max(SearchCourse.indexed_at))),
    )
