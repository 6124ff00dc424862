"""Rollups: learning events → daily aggregates, resumed from a stored watermark.

A full run (also the first) rebuilds every rollup table from the events with one
`INSERT … SELECT … GROUP BY` per table (on PostgreSQL on two connections at once:
`lms.analytics.rebuild`). An incremental run reads the events stored since
the watermark, minus `LAG` so that a transaction that committed late is still seen:

- PostgreSQL (`lms.analytics.deltas`): the deltas of the events not yet folded in are added
  to the rows they belong to; a ledger of the events inside the look-back keeps a re-run
  from adding anything twice. A full run rebuilds from the events stored before the
  look-back and folds the rest in the same way, so the ledger agrees with it.
- SQLite (the embedded default): the keys the events touch (course-day,
  student-course-day, lesson-day, item-day) are recomputed from the events.

Either way a re-run or an overlapping run changes nothing (runs take turns on the
watermark's row lock) and a late event lands in its own day. Then per-student totals
(`analytics_course_students`), video drop-off and badges; queries read only these tables.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, text, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lms.analytics import deltas, rebuild
from lms.analytics.aggregates import course_students, daily_statements, day_of
from lms.analytics.badges import STREAK_RULES, TOTAL_RULES, award_badges, award_everyone
from lms.analytics.dropoff import fold_in_recent, rebuild_segments
from lms.analytics.models import (
    CourseStudent,
    LearningEvent,
    RolledEvent,
    StudentDaily,
    Watermark,
)
from lms.models import utcnow

E = LearningEvent
WATERMARK = "daily"
LAG = timedelta(minutes=10)  # longest transaction whose events we still fold in
CHUNK = 2000
WORK_MEM = "256MB"


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
    """Every row of `table` anew: a plain insert costs less than upserting each key, and
    rows in primary-key order fill the index page after page instead of splitting pages
    all over it."""
    session.execute(delete(table))
    columns = [c.name for c in select_stmt.selected_columns]
    in_key_order = select_stmt.order_by(
        *(select_stmt.selected_columns[c.name] for c in table.primary_key)
    )
    session.execute(table.insert().from_select(columns, in_key_order))


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
        self.users: set[uuid.UUID] = set()
        self.events = 0


def _touched(session: Session, since: datetime) -> Touched:
    dialect = session.get_bind().dialect.name
    day = day_of(E.timestamp, dialect)
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
        elif object_type == "question" and verb == "answered":
            touched.items_by_day[when].add(object_id)
    return touched


def _stage_one(
    session: Session, touched: Touched | None, cutoff: datetime | None, tables=None
) -> None:
    """Daily tables: every key rewritten from the events stored before `cutoff` (full: the
    `tables` named, or all), or the touched keys recomputed (SQLite's incremental run)."""
    dialect = session.get_bind().dialect.name
    statements = daily_statements(dialect)
    if touched is None:  # full: every key, rewritten (the watermark lock keeps runs apart)
        everything = true() if cutoff is None else E.stored_at < cutoff
        for name, (table, _keys, build) in statements.items():
            if tables is None or name in tables:
                _replace(session, table, build(everything))
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


def _stage_two_students(session: Session, touched: Touched | None) -> None:
    keys = ["course_id", "user_id"]
    table = CourseStudent.__table__
    if touched is None:
        _replace(session, table, course_students(StudentDaily.__table__.c, true()))
        return
    # (user, course) in the primary key's order, so each pair is an index range.
    for chunk in _chunks(sorted((user, course) for course, user in touched.pairs)):
        where = tuple_(StudentDaily.user_id, StudentDaily.course_id).in_(chunk)
        _upsert(session, table, course_students(StudentDaily.__table__.c, where), keys)


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


def _session_settings(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiles per partition scanned (4 years of months): seconds of compiling
        # for sub-second statements. Off for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
        # A full run groups every event: hash tables of this size stay in memory instead of
        # spilling to disk in batches (the benchmark's plain GROUP BY gets the same).
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


def _rebuild_in_parallel(session: Session, cutoff: datetime) -> tuple[dict[str, float], int]:
    """PostgreSQL's full run of the tables, as tasks that two sessions take in turn
    (`lms.analytics.rebuild`), longest first: returns the seconds of each task and the
    badges awarded."""
    awarded: list[int] = []

    def students(own: Session) -> None:  # student days → per-student totals → their badges
        _stage_one(own, None, cutoff, tables={"student"})
        _stage_two_students(own, None)
        awarded.append(award_everyone(own, TOTAL_RULES))

    def streaks(own: Session) -> None:  # from the events, not waiting for the student days
        awarded.append(award_everyone(own, STREAK_RULES, active_before=cutoff))

    def daily(name: str):
        return lambda own: _stage_one(own, None, cutoff, tables={name})

    seconds = rebuild.rebuild(
        session,
        settings=_session_settings,
        tasks=[
            ("students", students),
            ("segments", lambda own: rebuild_segments(own, cutoff)),
            ("streaks", streaks),
            *((name, daily(name)) for name in ("course", "lesson", "responses", "item", "revenue")),
        ],
    )
    return seconds, sum(awarded)


def roll_up(session: Session, *, full: bool = False) -> dict[str, Any]:
    """One rollup run: incremental from the watermark, or every key (`full`, also the first
    run, and the run after a full one that did not finish). In the caller's transaction,
    but for PostgreSQL's full run, which also commits a second one (`lms.analytics.rebuild`).
    Returns what it did."""
    postgres = session.get_bind().dialect.name == "postgresql"
    _session_settings(session)
    mark = _watermark(session)
    started = utcnow()
    full = full or mark.runs == 0 or (postgres and rebuild.pending(session))
    since = mark.stored_at - LAG
    lap = deltas.Laps()

    events: int | None = None
    if full and postgres:
        # Rebuilt from the events stored before the look-back; the newer ones are folded in
        # as deltas and listed, as the next incremental run expects, and their students'
        # badges checked.
        cutoff = started - LAG
        seconds, awarded = _rebuild_in_parallel(session, cutoff)
        lap.add(seconds)
        session.execute(delete(RolledEvent))
        batch = deltas.fold_in(session, since=cutoff, next_since=cutoff)
        lap("newest")
        awarded += award_badges(session, None, moved=batch.moved, streaks_from=batch.first_day)
        lap("newest_badges")
        rebuild.settle(session)
    elif full:  # SQLite: every key, in the caller's transaction
        _stage_one(session, None, None)
        lap("daily")
        _stage_two_students(session, None)
        lap("students")
        rebuild_segments(session, None)
        lap("segments")
        awarded = award_badges(session, None)
        lap("badges")
    elif postgres:
        batch = deltas.fold_in(session, since=since, next_since=started - LAG)
        events = batch.events
        lap("deltas")
        lap.seconds["delta_steps"] = batch.seconds  # type: ignore[assignment]
        awarded = award_badges(session, None, moved=batch.moved, streaks_from=batch.first_day)
        lap("badges")
    else:
        touched = _touched(session, since)
        events = touched.events
        if events:
            _stage_one(session, touched, None)
            lap("daily")
            _stage_two_students(session, touched)
            lap("students")
            fold_in_recent(session, since)
            lap("segments")
        awarded = award_badges(session, touched.users)
        lap("badges")
    mark.stored_at, mark.runs, mark.updated_at = started, mark.runs + 1, utcnow()
    return {
        "mode": "full" if full else "incremental",
        "events": events,
        "badges": awarded,
        "seconds": lap.seconds,
    }
