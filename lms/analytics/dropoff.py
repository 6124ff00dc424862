"""Video drop-off: how many students watched each 5-second segment of a lesson, from the
positions of their progress reports."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from lms.analytics.models import LearningEvent, LessonSegment, LessonViewer

E = LearningEvent
SEGMENT_SECONDS = 5
SEEK_SECONDS = 60  # a jump longer than this between two reports was a seek, not watching
CHUNK = 2000


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


# `context` is json (text): parsed once per row (as jsonb, behind OFFSET 0 so the planner
# does not copy the parse into every use of the positions).
_WATCHED_PG = f"""
SELECT DISTINCT w.object_id, s.segment, w.actor_id, w.course_id
FROM (
    SELECT object_id, course_id, actor_id, (v->>'from')::int AS f, (v->>'to')::int AS t
    FROM (
        SELECT object_id, course_id, actor_id, context::jsonb->'video' AS v
        FROM {{source}}
        WHERE object_type = 'lesson' AND verb = 'progressed' AND course_id IS NOT NULL
          AND context IS NOT NULL {{scope}}
        OFFSET 0
    ) p
    WHERE v IS NOT NULL
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
_NEW_VIEWERS_PG = """
WITH new AS (
    INSERT INTO analytics_lesson_viewers (lesson_id, segment, user_id, course_id)
    {watched}
    ON CONFLICT DO NOTHING
    RETURNING lesson_id, segment, course_id
)
INSERT INTO analytics_lesson_segments (lesson_id, segment, course_id, viewers)
SELECT lesson_id, segment, (array_agg(course_id))[1], count(*) FROM new
GROUP BY lesson_id, segment
ON CONFLICT (lesson_id, segment)
DO UPDATE SET viewers = analytics_lesson_segments.viewers + excluded.viewers
"""


# A full run: the watched rows computed once, written as viewers (in key order, as
# `rollups._replace` does) and counted per segment; plain inserts into the emptied tables.
_REBUILD_PG = """
WITH watched AS MATERIALIZED ({watched}),
viewers AS (
    INSERT INTO analytics_lesson_viewers (lesson_id, segment, user_id, course_id)
    SELECT * FROM watched ORDER BY 1, 2, 3
)
INSERT INTO analytics_lesson_segments (lesson_id, segment, course_id, viewers)
SELECT object_id, segment, (array_agg(course_id))[1], count(*) FROM watched
GROUP BY object_id, segment
"""


def add_new_viewers(session: Session, source: str) -> None:
    """PostgreSQL: the viewers of `source`'s progress reports (a batch of new events) added
    to the drop-off counts, each (lesson, segment, viewer) once."""
    watched = _WATCHED_PG.format(source=source, scope="")
    session.execute(text(_NEW_VIEWERS_PG.format(watched=watched)))


def rebuild_segments(
    session: Session, lessons: Iterable[str] | None, cutoff: datetime | None = None
) -> None:
    """Video drop-off. PostgreSQL (every lesson, events stored before `cutoff`): who watched
    which segment is kept (`analytics_lesson_viewers`), so that incremental runs add only
    new viewers. SQLite: the given lessons' counts (every lesson's, when None) are
    recomputed in Python (same rules: `watched_segments`)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(delete(LessonViewer))
        session.execute(delete(LessonSegment))
        watched = _WATCHED_PG.format(source="learning_events", scope="AND stored_at < :cutoff")
        session.execute(text(_REBUILD_PG.format(watched=watched)), {"cutoff": cutoff})
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
