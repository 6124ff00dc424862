"""Incremental rollups on PostgreSQL: the deltas of the events not yet folded in, added to
the rollup rows they belong to.

The new events are copied once into a batch (a temporary table): those stored since the
watermark's look-back that `analytics_rolled_events` does not list. They are listed in the
same transaction, so a re-run or an overlapping run finds nothing new and adds nothing.
Every aggregate then reads the batch (a few thousand rows), not the events table:

- sums and counts add (`+ excluded`), maxima merge with GREATEST, a late event lands in
  the row of its own day;
- counts of distinct students add only the students new to the row: an active student of a
  course-day (and an active day of a student) when the student-day is not in
  `analytics_student_daily` yet, a viewer of a lesson-day when that student had no event
  on the lesson that day among the events already folded in;
- drop-off: new (lesson, segment, viewer) rows, as before.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    MetaData,
    Table,
    case,
    distinct,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from lms.analytics.aggregates import course_students, daily_statements
from lms.analytics.dropoff import add_new_viewers
from lms.analytics.models import CourseStudent, LearningEvent

BATCH = "analytics_batch"
MAXED = {"progress", "last_seen"}  # merged with GREATEST; other numbers add up

# The new events, each with two flags. new_student_day: its student-day is not in
# `analytics_student_daily` yet. new_lesson_viewer (set by `_VIEWERS`): no event of that
# student on that lesson that day among those folded in already (stored before the
# look-back, or listed).
_COPY = f"""
CREATE TEMP TABLE {BATCH} ON COMMIT DROP AS
SELECT n.*,
    n.course_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM analytics_student_daily s
        WHERE s.user_id = n.actor_id AND s.course_id = n.course_id AND s.day = n.day
    ) AS new_student_day,
    false AS new_lesson_viewer
FROM (
    SELECT e.id, e.stored_at, e.timestamp, e.actor_id, e.verb, e.object_type, e.object_id,
           e.course_id, e.context, e.score, e.seconds, e.amount, e.currency, e.progress,
           timezone('UTC', e.timestamp)::date AS day
    FROM learning_events e
    WHERE e.stored_at >= :since
      AND NOT EXISTS (SELECT 1 FROM analytics_rolled_events r WHERE r.id = e.id)
) n
"""
# A second statement, once the batch's first and last day are known: bounds the planner
# prunes the monthly partitions with (as one statement, each of the batch's lesson events
# probed all 50 partitions and planning alone took 100-150 ms at full scale). Each probe
# ranges over that student's events of that UTC day on the actor index; the course is
# compared with IS NOT DISTINCT FROM (equal here: the batch's course is not null) so that
# the (course, timestamp) index is not a candidate: with the one-day range both estimate
# under one row, the planner took either, and the course's events of a day are 20 heap
# rows where the student's are one or two (278,000 buffers instead of 62,000 at 1,000,000
# events).
_VIEWERS = f"""
UPDATE {BATCH} n SET new_lesson_viewer = NOT EXISTS (
    SELECT 1 FROM learning_events e
    WHERE e.actor_id = n.actor_id
      AND e.timestamp >= n.day::timestamp AT TIME ZONE 'UTC'
      AND e.timestamp < (n.day + 1)::timestamp AT TIME ZONE 'UTC'
      AND e.timestamp >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
      AND e.timestamp < CAST(:end AS timestamp) AT TIME ZONE 'UTC'
      AND e.object_type = 'lesson' AND e.object_id = n.object_id
      AND e.course_id IS NOT DISTINCT FROM n.course_id
      AND (e.stored_at < :since
           OR EXISTS (SELECT 1 FROM analytics_rolled_events r WHERE r.id = e.id))
)
WHERE n.object_type = 'lesson' AND n.course_id IS NOT NULL
"""
# Only the events the next run reads again (stored since its look-back) need listing.
_LIST = f"""
INSERT INTO analytics_rolled_events (id, stored_at) SELECT id, stored_at FROM {BATCH}
WHERE stored_at >= :next_since
ON CONFLICT DO NOTHING
"""
_PRUNE = "DELETE FROM analytics_rolled_events WHERE stored_at < :next_since"

# The batch's columns, for the aggregates' SELECTs (the events' columns and the two flags).
_batch = Table(
    BATCH,
    MetaData(),
    *(Column(c.name, c.type) for c in LearningEvent.__table__.c),
    Column("day", Date),
    Column("new_student_day", Boolean),
    Column("new_lesson_viewer", Boolean),
)


# The batch's per-student totals (its columns are those of `analytics_course_students`), and
# the students each badge total moved for.
_totals_of_batch = Table(
    f"{BATCH}_students", MetaData(), *(Column(c.name, c.type) for c in CourseStudent.__table__.c)
)
MOVED = ("completed", "perfect", "lessons", "streak")
_MOVED = f"""
SELECT array_agg(DISTINCT user_id) FILTER (WHERE completed),
       array_agg(DISTINCT user_id) FILTER (WHERE perfect > 0),
       array_agg(DISTINCT user_id) FILTER (WHERE lesson_completions > 0),
       array_agg(DISTINCT user_id) FILTER (WHERE active_days > 0)
FROM {BATCH}_students
"""


def _add(session: Session, table, select_stmt, keys: list[str]) -> None:
    """INSERT the delta rows; where a row exists, add to it (GREATEST for maxima, OR for
    flags). Columns outside the key that only describe it (a lesson's course) stay."""
    columns = [c.name for c in select_stmt.selected_columns]
    stmt = postgresql.insert(table).from_select(columns, select_stmt)
    current = table.c

    def merged(name: str):
        if name in MAXED:
            return func.greatest(current[name], stmt.excluded[name])
        if isinstance(current[name].type, Boolean):
            return or_(current[name], stmt.excluded[name])
        return current[name] + stmt.excluded[name]

    values = {n: merged(n) for n in columns if n not in keys and n != "course_id"}
    session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=values))


class Batch:
    """What one incremental run folded in: how many events, the students whose badge
    totals moved (by total: `lms.analytics.badges.Rule.total`) and the first day."""

    def __init__(
        self,
        events: int,
        moved: dict[str, list],
        first_day: date | None,
        seconds: dict[str, float] | None = None,
    ) -> None:
        self.events, self.moved, self.first_day = events, moved, first_day
        self.seconds = seconds or {}  # per step, for the run's report


class Laps:
    """Seconds per step of a run (what an operator or the benchmark reads to see where a
    rollup spent its time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._clock, 3)
        self._clock = now

    def add(self, seconds: dict[str, float]) -> None:
        """Steps timed elsewhere (a full run's tasks); the next step starts now."""
        self.seconds.update(seconds)
        self._clock = time.perf_counter()


def fold_in(session: Session, *, since: datetime, next_since: datetime) -> Batch:
    """Add the events stored since `since` and not yet listed to the rollups, list them,
    and forget listed events stored before `next_since` (the next run's look-back)."""
    lap = Laps()
    # (Dropped first: a second run in the same transaction makes them anew.)
    session.execute(text(f"DROP TABLE IF EXISTS {BATCH}, {BATCH}_students"))
    session.execute(text(_COPY), {"since": since})
    events, first_day, last_day = session.execute(
        text(f"SELECT count(*), min(day), max(day) FROM {BATCH}")
    ).one()
    lap("copy")
    if not events:
        session.execute(text(_PRUNE), {"next_since": next_since})
        return Batch(0, {}, None, lap.seconds)
    end = last_day + timedelta(days=1)
    session.execute(text(_VIEWERS), {"since": since, "first": first_day, "end": end})
    lap("viewers")
    session.execute(text(_LIST), {"next_since": next_since})
    session.execute(text(_PRUNE), {"next_since": next_since})
    lap("ledger")

    c = _batch.c
    statements = daily_statements(
        "postgresql",
        events=c,
        active=func.count(distinct(case((c.new_student_day, c.actor_id)))),
        viewers=func.count(distinct(case((c.new_lesson_viewer, c.actor_id)))),
    )
    for name, (table, keys, build) in statements.items():
        _add(session, table, build(true()), keys)
        lap(name)
    # Per-student course totals from the batch's student days (a new day adds an active one),
    # kept for the badge pass: which students' totals moved.
    _table, _keys, student = statements["student"]
    days = student(true()).add_columns(func.bool_or(c.new_student_day).label("new_day"))
    days = days.subquery()
    totals = course_students(days.c, true(), active_days=func.count().filter(days.c.new_day))
    compiled = totals.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    session.execute(text(f"CREATE TEMP TABLE {BATCH}_students ON COMMIT DROP AS {compiled}"))
    _add(
        session,
        CourseStudent.__table__,
        select(_totals_of_batch),
        ["course_id", "user_id"],
    )
    moved = session.execute(text(_MOVED)).one()
    lap("totals")
    add_new_viewers(session, BATCH)
    lap("dropoff")
    moved_by_total = {name: list(users or []) for name, users in zip(MOVED, moved, strict=True)}
    return Batch(int(events), moved_by_total, first_day, lap.seconds)
