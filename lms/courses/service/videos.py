"""What Content asks of lessons, so it never writes the courses' tables itself: the lesson
an upload or a stream names, and which lessons play a video (attached when it becomes READY,
its playing time followed, detached when it is deleted)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lms.courses.models import Lesson


def lesson_by_id(session: Session, lesson_id: uuid.UUID) -> Lesson | None:
    return session.get(Lesson, lesson_id)


def play_video_in_lesson(session: Session, lesson_id: uuid.UUID, asset_id: uuid.UUID) -> None:
    """The lesson (if it still exists) plays this video from now on."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is not None:
        lesson.video_asset_id = asset_id


def follow_video_duration(session: Session, asset_id: uuid.UUID, seconds: float | None) -> None:
    """Every lesson playing the video shows its playing time (called when it becomes READY)."""
    session.execute(
        update(Lesson)
        .where(Lesson.video_asset_id == asset_id)
        .values(duration_seconds=round(seconds or 0))
    )


def detach_video(session: Session, asset_id: uuid.UUID) -> None:
    """The video is deleted: the lessons that played it have nothing left to play."""
    for lesson in session.scalars(select(Lesson).where(Lesson.video_asset_id == asset_id)):
        lesson.video_asset_id, lesson.duration_seconds = None, 0
