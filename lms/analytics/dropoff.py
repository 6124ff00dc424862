"""Video drop-off: how many students watched each 5-second segment of a lesson, from the
positions of their progress reports.

Who watched what is kept as one row per (lesson, viewer) with the watched segments as
ranges (`analytics_lesson_watch`). A run merges the ranges of new reports into it (a union,
so a re-run or a late event changes nothing twice) and adds to each segment's count
(`analytics_lesson_segments`) only the segments a row gained. A full run rebuilds both.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from lms.analytics.models import LearningEvent, LessonSegment, LessonWatch

E = LearningEvent
SEGMENT_SECONDS = 5
SEEK_SECONDS = 60  # a jump longer than this between two reports was a seek, not watching
CHUNK = 500


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def watched_segments(start: int, end: int) -> set[int]:
    """The 5-second segments between two reported positions (one, when it was a seek)."""
    if end < start or end - start > SEEK_SECONDS:
        return {max(end, 0) // SEGMENT_SECONDS}
    last = max(start, math.ceil(end / SEGMENT_SECONDS) * SEGMENT_SECONDS - 1)
    return set(range(start // SEGMENT_SECONDS, last // SEGMENT_SECONDS + 1))


def as_ranges(segments: Iterable[int]) -> list[list[int]]:
    """Segments as sorted [first, end) ranges (how SQLite stores them)."""
    ranges: list[list[int]] = []
    for segment in sorted(set(segments)):
        if ranges and ranges[-1][1] == segment:
            ranges[-1][1] += 1
        else:
            ranges.append([segment, segment + 1])
    return ranges


def from_ranges(ranges) -> set[int]:
    return {s for first, end in ranges or [] for s in range(first, end)}


# PostgreSQL. Each report as its watched segments [lo, hi] (the rules of `watched_segments`,
# without a row per segment). `context` is json (text): parsed once per row, behind OFFSET 0
# so the planner does not copy the parse into every use of the positions.
_SPANS_PG = f"""
SELECT object_id, course_id, actor_id,
    CASE WHEN t < f OR t - f > {SEEK_SECONDS} THEN greatest(t, 0) / {SEGMENT_SECONDS}
         ELSE f / {SEGMENT_SECONDS} END AS lo,
    CASE WHEN t < f OR t - f > {SEEK_SECONDS} THEN greatest(t, 0) / {SEGMENT_SECONDS}
         ELSE greatest(f, ceil(t / {SEGMENT_SECONDS}.0)::int * {SEGMENT_SECONDS} - 1)
              / {SEGMENT_SECONDS} END AS hi
FROM (
    SELECT object_id, course_id, actor_id,
        coalesce((v->>'from')::int, 0) AS f, coalesce((v->>'to')::int, 0) AS t
    FROM (
        SELECT object_id, course_id, actor_id, context::jsonb->'video' AS v
        FROM {{source}}
        WHERE object_type = 'lesson' AND verb = 'progressed' AND course_id IS NOT NULL
          AND context IS NOT NULL {{scope}}
        OFFSET 0
    ) p
    WHERE v IS NOT NULL
    OFFSET 0
) w
"""
# One row per (lesson, viewer): the union of their reports' ranges.
_WATCH_PG = """
SELECT actor_id AS user_id, object_id AS lesson_id, (array_agg(course_id))[1] AS course_id,
    range_agg(int4range(lo, hi + 1)) AS segments
FROM ({spans}) s
GROUP BY actor_id, object_id
"""
# The viewers of each segment, from rows of (lesson_id, course_id, segments).
_COUNT_PG = """
SELECT lesson_id, s AS segment, (array_agg(course_id))[1] AS course_id, count(*) AS viewers
FROM {rows} AS x, unnest(x.segments) AS r, generate_series(lower(r), upper(r) - 1) AS s
GROUP BY lesson_id, s
"""

# A full run: the rows written in primary-key order (an index filled page after page, as
# `rollups._replace` does), then counted.
_REBUILD_PG = f"""
WITH watch AS (
    INSERT INTO analytics_lesson_watch (user_id, lesson_id, course_id, segments)
    SELECT * FROM ({{watch}}) w ORDER BY user_id, lesson_id
    RETURNING lesson_id, course_id, segments
)
INSERT INTO analytics_lesson_segments (lesson_id, segment, course_id, viewers)
{_COUNT_PG.format(rows="watch")}
"""

# An incremental run: what each row gains (its new ranges minus those it had, read in the
# statement's snapshot, before the merge) is counted; the merge is a union.
_ADD_PG = f"""
WITH batch AS ({{watch}}),
gained AS (
    SELECT b.lesson_id, b.course_id,
        b.segments - coalesce(w.segments, '{{{{}}}}'::int4multirange) AS segments
    FROM batch b
    LEFT JOIN analytics_lesson_watch w ON w.user_id = b.user_id AND w.lesson_id = b.lesson_id
),
merged AS (
    INSERT INTO analytics_lesson_watch (user_id, lesson_id, course_id, segments)
    SELECT * FROM batch ORDER BY user_id, lesson_id
    ON CONFLICT (user_id, lesson_id)
    DO UPDATE SET segments = analytics_lesson_watch.segments + excluded.segments
)
INSERT INTO analytics_lesson_segments (lesson_id, segment, course_id, viewers)
{_COUNT_PG.format(rows="gained")}
ON CONFLICT (lesson_id, segment)
DO UPDATE SET viewers = analytics_lesson_segments.viewers + excluded.viewers
"""


def add_new_viewers(session: Session, source: str) -> None:
    """PostgreSQL: the progress reports of `source` (a batch of new events) merged into
    who watched what, and the segments gained added to the drop-off counts."""
    spans = _SPANS_PG.format(source=source, scope="")
    session.execute(text(_ADD_PG.format(watch=_WATCH_PG.format(spans=spans))))


def rebuild_segments(session: Session, cutoff: datetime | None = None) -> None:
    """Video drop-off from every progress report (PostgreSQL: those stored before `cutoff`)."""
    session.execute(delete(LessonWatch))
    session.execute(delete(LessonSegment))
    if session.get_bind().dialect.name == "postgresql":
        scope = "" if cutoff is None else "AND stored_at < :cutoff"
        spans = _SPANS_PG.format(source="learning_events", scope=scope)
        statement = _REBUILD_PG.format(watch=_WATCH_PG.format(spans=spans))
        session.execute(text(statement), {"cutoff": cutoff})
        return
    _merge_sqlite(session, None)


def fold_in_recent(session: Session, since: datetime) -> None:
    """SQLite's incremental run: the reports stored since `since` merged in (re-reading the
    overlap of the previous run gains nothing)."""
    _merge_sqlite(session, E.stored_at >= since)


def _merge_sqlite(session: Session, where) -> None:
    """The same merge in Python: the reports' segments per (lesson, viewer) with the rules
    of `watched_segments`, unioned into the stored rows, the gained segments counted."""
    query = select(E.object_id, E.actor_id, E.course_id, E.context).where(
        E.object_type == "lesson",
        E.verb == "progressed",
        E.course_id.is_not(None),
        E.context.is_not(None),
    )
    if where is not None:
        query = query.where(where)
    seen: dict[tuple[str, uuid.UUID], set[int]] = defaultdict(set)
    course_of: dict[str, uuid.UUID] = {}
    for lesson_id, actor_id, course_id, context in session.execute(query):
        video = (context or {}).get("video")
        if not video:
            continue
        course_of[lesson_id] = course_id
        seen[(lesson_id, actor_id)] |= watched_segments(
            int(video.get("from") or 0), int(video.get("to") or 0)
        )
    had: dict[tuple[str, uuid.UUID], set[int]] = {}
    if where is not None:
        for pairs in _chunks(seen):
            rows = session.execute(
                select(LessonWatch.lesson_id, LessonWatch.user_id, LessonWatch.segments).where(
                    tuple_(LessonWatch.lesson_id, LessonWatch.user_id).in_(pairs)
                )
            )
            had.update(((lesson, user), from_ranges(ranges)) for lesson, user, ranges in rows)
    gained: dict[tuple[str, int], int] = defaultdict(int)
    watch_rows = []
    for (lesson_id, user_id), segments in seen.items():
        before = had.get((lesson_id, user_id), set())
        for segment in segments - before:
            gained[(lesson_id, segment)] += 1
        if not segments <= before:
            watch_rows.append(
                {
                    "lesson_id": lesson_id,
                    "user_id": user_id,
                    "course_id": course_of[lesson_id],
                    "segments": as_ranges(segments | before),
                }
            )
    for rows in _chunks(watch_rows):
        insert = sqlite.insert(LessonWatch).values(rows)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["user_id", "lesson_id"],
                set_={"segments": insert.excluded.segments},
            )
        )
    counts = [
        {"lesson_id": lesson, "segment": segment, "course_id": course_of[lesson], "viewers": n}
        for (lesson, segment), n in sorted(gained.items())
    ]
    for rows in _chunks(counts):
        insert = sqlite.insert(LessonSegment).values(rows)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["lesson_id", "segment"],
                set_={"viewers": LessonSegment.viewers + insert.excluded.viewers},
            )
        )
