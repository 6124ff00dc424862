"""Incremental rollups: learning events → daily aggregates, resumed from a stored watermark.

A run reads the events stored since the watermark (minus `LAG`, so a transaction that
committed late is still seen), finds the keys they touch (course-day, student-course-day,
lesson-day, item-day) and recomputes those keys from the events with one
`INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE` per table and day. Values are
recomputed, never incremented: a re-run or an overlapping run writes the same numbers, and
a late event lands in its own day. The second stage sums student days into
`analytics_course_students`, rebuilds the watched segments of touched lessons and awards
badges; queries read only these tables.
"""

from __future__ import annotations

import math
import time as time_module
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, delete, distinct, func, select, text, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lms.analytics.badges import award_badges
from lms.analytics.models import (
    CourseDaily,
    CourseStudent,
    ItemDaily,
    ItemResponseDaily,
    LearningEvent,
    LessonDaily,
    LessonSegment,
    LessonViewer,
    RevenueDaily,
    StudentDaily,
    Watermark,
)
from lms.models import utcnow

E = LearningEvent
WATERMARK = "daily"
LAG = timedelta(minutes=10)  # longest transaction whose events we still fold in
SEGMENT_SECONDS = 5
SEEK_SECONDS = 60  # a jump longer than this between two reports was a seek, not watching
PASS_SCORE = 0.5
CHUNK = 2000


def _day(column, dialect: str):
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_if(condition, value):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _upsert(session: Session, table, select_stmt, keys: list[str]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [c.name for c in select_stmt.selected_columns]
    stmt = insert(table).from_select(columns, select_stmt)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: stmt.excluded[name] for name in columns if name not in keys},
    )
    session.execute(stmt)


def _replace(session: Session, table, select_stmt) -> None:
    """Every row of `table` anew: a plain insert costs less than upserting each key."""
    session.execute(delete(table))
    columns = [c.name for c in select_stmt.selected_columns]
    session.execute(table.insert().from_select(columns, select_stmt))


# --- stage one: events → daily tables ------------------------------------------------------


def _daily_statements(dialect: str):
    """(table, keys, select builder) per daily table; the builder takes a WHERE clause."""
    day = _day(E.timestamp, dialect).label("day")
    lesson_done = and_(E.verb == "completed", E.object_type == "lesson")
    graded = E.verb == "scored"

    def course(where):
        return (
            select(
                E.course_id.label("course_id"),
                day,
                _count_if(E.verb == "enrolled").label("enrollments"),
                func.count(distinct(E.actor_id)).label("active_students"),
                _count_if(lesson_done).label("lesson_completions"),
                _count_if(and_(E.verb == "completed", E.object_type == "course")).label(
                    "completions"
                ),
                _count_if(E.verb == "earned").label("certificates"),
                _count_if(E.verb == "commented").label("forum_posts"),
                _count_if(graded).label("graded"),
                func.coalesce(func.sum(E.seconds), 0).label("time_seconds"),
                func.count().label("events"),
            )
            .where(E.course_id.is_not(None), where)
            .group_by(E.course_id, day)
        )

    def student(where):
        return (
            select(
                E.actor_id.label("user_id"),
                E.course_id.label("course_id"),
                day,
                func.count().label("events"),
                func.coalesce(func.sum(E.seconds), 0).label("time_seconds"),
                _count_if(lesson_done).label("lesson_completions"),
                func.coalesce(func.max(E.progress), 0.0).label("progress"),
                _count_if(graded).label("graded"),
                _count_if(and_(graded, E.score < PASS_SCORE)).label("failed"),
                _sum_if(graded, E.score).label("score_sum"),
                _count_if(and_(graded, E.score >= 1.0)).label("perfect"),
                _count_if(and_(E.verb == "completed", E.object_type == "course")).label(
                    "completed"
                ),
                _count_if(E.verb == "commented").label("forum_posts"),
                func.max(E.timestamp).label("last_seen"),
            )
            .where(E.course_id.is_not(None), where)
            .group_by(E.actor_id, E.course_id, day)
        )

    def lesson(where):
        return (
            select(
                E.object_id.label("lesson_id"),
                day,
                func.max(E.course_id).label("course_id")
                if dialect != "postgresql"
                else E.course_id.label("course_id"),
                func.count(distinct(E.actor_id)).label("viewers"),
                _count_if(E.verb == "completed").label("completions"),
                func.coalesce(func.sum(E.seconds), 0).label("time_seconds"),
            )
            .where(E.object_type == "lesson", E.course_id.is_not(None), where)
            .group_by(E.object_id, day, *([E.course_id] if dialect == "postgresql" else []))
        )

    def revenue(where):
        return (
            select(
                E.course_id.label("course_id"),
                day,
                E.currency.label("currency"),
                _count_if(E.verb == "purchased").label("purchases"),
                _sum_if(E.verb == "purchased", E.amount).label("paid"),
                _count_if(E.verb == "refunded").label("refunds"),
                _sum_if(E.verb == "refunded", E.amount).label("refunded"),
            )
            .where(
                E.verb.in_(("purchased", "refunded")),
                E.course_id.is_not(None),
                E.currency.is_not(None),
                where,
            )
            .group_by(E.course_id, day, E.currency)
        )

    def item(where):
        return (
            select(
                E.object_id.label("item_id"),
                day,
                func.max(E.course_id).label("course_id")
                if dialect != "postgresql"
                else E.course_id.label("course_id"),
                func.count().label("attempts"),
                _count_if(E.score >= 1.0).label("correct"),
            )
            .where(
                E.verb == "answered", E.object_type == "question", E.course_id.is_not(None), where
            )
            .group_by(E.object_id, day, *([E.course_id] if dialect == "postgresql" else []))
        )

    def responses(where):
        return (
            select(
                E.object_id.label("item_id"),
                E.actor_id.label("user_id"),
                day,
                func.max(E.course_id).label("course_id")
                if dialect != "postgresql"
                else E.course_id.label("course_id"),
                func.count().label("attempts"),
                _count_if(E.score >= 1.0).label("correct"),
            )
            .where(
                E.verb == "answered", E.object_type == "question", E.course_id.is_not(None), where
            )
            .group_by(
                E.object_id, E.actor_id, day, *([E.course_id] if dialect == "postgresql" else [])
            )
        )

    return {
        "course": (CourseDaily.__table__, ["course_id", "day"], course),
        "responses": (ItemResponseDaily.__table__, ["item_id", "user_id", "day"], responses),
        "student": (StudentDaily.__table__, ["user_id", "course_id", "day"], student),
        "lesson": (LessonDaily.__table__, ["lesson_id", "day"], lesson),
        "revenue": (RevenueDaily.__table__, ["course_id", "day", "currency"], revenue),
        "item": (ItemDaily.__table__, ["item_id", "day"], item),
    }


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class Touched:
    """The keys a batch of new events touches."""

    def __init__(self) -> None:
        self.courses_by_day: dict[date, set[uuid.UUID]] = defaultdict(set)
        self.lessons_by_day: dict[date, set[str]] = defaultdict(set)
        self.items_by_day: dict[date, set[str]] = defaultdict(set)
        self.pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()  # (course, user)
        self.users_by_day: dict[date, set[uuid.UUID]] = defaultdict(set)
        self.video_lessons: set[str] = set()
        self.users: set[uuid.UUID] = set()
        self.events = 0


def _touched(session: Session, since: datetime) -> Touched:
    dialect = session.get_bind().dialect.name
    day = _day(E.timestamp, dialect)
    touched = Touched()
    rows = session.execute(
        select(
            day,
            E.course_id,
            E.actor_id,
            E.verb,
            E.object_type,
            E.object_id,
            func.count(),
        )
        .where(E.stored_at >= since)
        .group_by(day, E.course_id, E.actor_id, E.verb, E.object_type, E.object_id)
    )
    for raw_day, course_id, actor_id, verb, object_type, object_id, count in rows:
        touched.events += count
        touched.users.add(actor_id)
        if course_id is None:
            continue
        when = _as_date(raw_day)
        touched.courses_by_day[when].add(course_id)
        touched.users_by_day[when].add(actor_id)
        touched.pairs.add((course_id, actor_id))
        if object_type == "lesson":
            touched.lessons_by_day[when].add(object_id)
            if verb == "progressed":
                touched.video_lessons.add(object_id)
        elif object_type == "question" and verb == "answered":
            touched.items_by_day[when].add(object_id)
    return touched


def _stage_one(session: Session, touched: Touched | None) -> None:
    dialect = session.get_bind().dialect.name
    statements = _daily_statements(dialect)
    if touched is None:  # full: every key, rewritten (the watermark lock keeps runs apart)
        for table, _keys, build in statements.values():
            _replace(session, table, build(true()))
        return
    by_key = {
        "course": (touched.courses_by_day, E.course_id),
        "student": (touched.courses_by_day, E.course_id),
        "revenue": (touched.courses_by_day, E.course_id),
        "lesson": (touched.lessons_by_day, E.object_id),
        "item": (touched.items_by_day, E.object_id),
        "responses": (touched.items_by_day, E.object_id),
    }
    for name, (table, keys, build) in statements.items():
        groups, column = by_key[name]
        for day, ids in sorted(groups.items()):
            start, end = _day_bounds(day)
            for chunk in _chunks(ids):
                where = and_(E.timestamp >= start, E.timestamp < end, column.in_(chunk))
                if name == "student":  # only the students who did something that day
                    for users in _chunks(touched.users_by_day[day]):
                        _upsert(session, table, build(and_(where, E.actor_id.in_(users))), keys)
                    continue
                _upsert(session, table, build(where), keys)


# --- stage two: student days → course students, segments, badges ----------------------------


def _course_students(where) -> Any:
    S = StudentDaily
    return (
        select(
            S.course_id.label("course_id"),
            S.user_id.label("user_id"),
            func.max(S.progress).label("progress"),
            func.sum(S.time_seconds).label("time_seconds"),
            func.sum(S.lesson_completions).label("lesson_completions"),
            func.sum(S.graded).label("graded"),
            func.sum(S.failed).label("failed"),
            func.sum(S.score_sum).label("score_sum"),
            func.sum(S.perfect).label("perfect"),
            (func.max(S.completed) > 0).label("completed"),
            func.count().label("active_days"),
            func.max(S.last_seen).label("last_seen"),
        )
        .where(where)
        .group_by(S.course_id, S.user_id)
    )


def _stage_two_students(session: Session, touched: Touched | None) -> None:
    keys = ["course_id", "user_id"]
    table = CourseStudent.__table__
    if touched is None:
        _replace(session, table, _course_students(true()))
        return
    # (user, course) in the primary key's order, so each pair is an index range.
    for chunk in _chunks(sorted((user, course) for course, user in touched.pairs)):
        where = tuple_(StudentDaily.user_id, StudentDaily.course_id).in_(chunk)
        _upsert(session, table, _course_students(where), keys)


def watched_segments(start: int, end: int) -> set[int]:
    """The 5-second segments between two reported positions (one, when it was a seek)."""
    if end < start or end - start > SEEK_SECONDS:
        return {max(end, 0) // SEGMENT_SECONDS}
    last = max(start, math.ceil(end / SEGMENT_SECONDS) * SEGMENT_SECONDS - 1)
    return set(range(start // SEGMENT_SECONDS, last // SEGMENT_SECONDS + 1))


_WATCHED_PG = f"""
SELECT DISTINCT w.object_id, s.segment, w.actor_id, w.course_id
FROM (
    SELECT object_id, course_id, actor_id,
           (context->'video'->>'from')::int AS f, (context->'video'->>'to')::int AS t
    FROM learning_events
    WHERE object_type = 'lesson' AND verb = 'progressed' AND course_id IS NOT NULL
      AND context IS NOT NULL AND (context->'video') IS NOT NULL {{scope}}
) w
CROSS JOIN LATERAL generate_series(
    CASE WHEN w.t < w.f OR w.t - w.f > {SEEK_SECONDS} THEN greatest(w.t, 0) / {SEGMENT_SECONDS}
         ELSE w.f / {SEGMENT_SECONDS} END,
    CASE WHEN w.t < w.f OR w.t - w.f > {SEEK_SECONDS} THEN greatest(w.t, 0) / {SEGMENT_SECONDS}
         ELSE greatest(w.f, ceil(w.t / {SEGMENT_SECONDS}.0)::int * {SEGMENT_SECONDS} - 1)
              / {SEGMENT_SECONDS} END
) AS s(segment)
"""
# New (lesson, segment, viewer) rows only come back from the insert, so adding their count
# is exact and a re-run adds nothing.
_NEW_VIEWERS_PG = f"""
WITH new AS (
    INSERT INTO analytics_lesson_viewers (lesson_id, segment, user_id, course_id)
    {_WATCHED_PG.format(scope="AND stored_at >= :since")}
    ON CONFLICT DO NOTHING
    RETURNING lesson_id, segment, course_id
)
INSERT INTO analytics_lesson_segments (lesson_id, segment, course_id, viewers)
SELECT lesson_id, segment, (array_agg(course_id))[1], count(*) FROM new
GROUP BY lesson_id, segment
ON CONFLICT (lesson_id, segment)
DO UPDATE SET viewers = analytics_lesson_segments.viewers + excluded.viewers
"""


def _segments(session: Session, lessons: Iterable[str] | None, since: datetime | None) -> None:
    """Video drop-off. PostgreSQL: who watched which segment is kept
    (`analytics_lesson_viewers`), so a run adds only new viewers to the counts (a full run
    rebuilds both). SQLite: the touched lessons' counts are recomputed in Python (same
    rules: `watched_segments`)."""
    if session.get_bind().dialect.name == "postgresql":
        if since is None:
            session.execute(delete(LessonViewer))
            session.execute(delete(LessonSegment))
            session.execute(
                text(
                    "INSERT INTO analytics_lesson_viewers "
                    "(lesson_id, segment, user_id, course_id) " + _WATCHED_PG.format(scope="")
                )
            )
            session.execute(
                text(
                    "INSERT INTO analytics_lesson_segments "
                    "(lesson_id, segment, course_id, viewers) "
                    "SELECT lesson_id, segment, (array_agg(course_id))[1], count(*) "
                    "FROM analytics_lesson_viewers GROUP BY lesson_id, segment"
                )
            )
        else:
            session.execute(text(_NEW_VIEWERS_PG), {"since": since})
        return
    where = [E.object_type == "lesson", E.verb == "progressed", E.context.is_not(None)]
    chunks = [None] if lessons is None else list(_chunks(sorted(lessons)))
    for chunk in chunks:
        query = select(E.object_id, E.course_id, E.actor_id, E.context).where(*where)
        if chunk is not None:
            query = query.where(E.object_id.in_(chunk))
        seen: dict[str, dict[uuid.UUID, set[int]]] = defaultdict(lambda: defaultdict(set))
        course_of: dict[str, uuid.UUID] = {}
        for lesson_id, course_id, actor_id, context in session.execute(query):
            video = (context or {}).get("video")
            if not video or course_id is None:
                continue
            course_of[lesson_id] = course_id
            seen[lesson_id][actor_id] |= watched_segments(
                int(video.get("from") or 0), int(video.get("to") or 0)
            )
        if chunk is not None:
            session.execute(delete(LessonSegment).where(LessonSegment.lesson_id.in_(chunk)))
        else:
            session.execute(delete(LessonSegment))
        rows = []
        for lesson_id, by_actor in seen.items():
            counts: dict[int, int] = defaultdict(int)
            for segments in by_actor.values():
                for segment in segments:
                    counts[segment] += 1
            rows.extend(
                {
                    "lesson_id": lesson_id,
                    "segment": segment,
                    "course_id": course_of[lesson_id],
                    "viewers": viewers,
                }
                for segment, viewers in counts.items()
            )
        if rows:
            session.execute(LessonSegment.__table__.insert(), rows)


# --- the run ------------------------------------------------------------------------------


def _watermark(session: Session) -> Watermark:
    """The watermark row, locked: overlapping runs take turns (and would agree anyway)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Watermark)
        .values(name=WATERMARK, stored_at=datetime(1970, 1, 1, tzinfo=UTC), runs=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(
        select(Watermark).where(Watermark.name == WATERMARK).with_for_update()
    ).one()


def roll_up(session: Session, *, full: bool = False) -> dict[str, Any]:
    """One rollup run in the caller's transaction: incremental from the watermark, or
    every key (`full`, also the first run). Returns what it did."""
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiles per partition scanned (4 years of months): seconds of compiling
        # for sub-second statements. Off for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    mark = _watermark(session)
    started = utcnow()
    first = mark.runs == 0
    touched = None
    if not (full or first):
        touched = _touched(session, mark.stored_at - LAG)
        if not touched.events:
            mark.stored_at, mark.runs, mark.updated_at = started, mark.runs + 1, started
            return {"mode": "incremental", "events": 0}
    seconds: dict[str, float] = {}
    clock = time_module.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time_module.perf_counter()
        seconds[name], clock = round(now - clock, 3), now

    _stage_one(session, touched)
    lap("daily")
    _stage_two_students(session, touched)
    lap("students")
    _segments(
        session,
        None if touched is None else touched.video_lessons,
        None if touched is None else mark.stored_at - LAG,
    )
    lap("segments")
    awarded = award_badges(session, None if touched is None else touched.users)
    lap("badges")
    mark.stored_at, mark.runs, mark.updated_at = started, mark.runs + 1, utcnow()
    return {
        "mode": "full" if touched is None else "incremental",
        "events": None if touched is None else touched.events,
        "badges": awarded,
        "seconds": seconds,
    }
