"""Helpers every section of the content service uses: ids, expiries, signed links,
who manages an asset.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.content import access
from lms.content.errors import ContentCode
from lms.content.models import VideoAsset
from lms.courses import service as courses
from lms.courses.errors import CourseCode
from lms.errors import Forbidden, NotFound
from lms.models import utcnow
from lms.security import Viewer, require_authenticated
from lms.storage import signing


def parse_id(value: Any, what: str = "id", code: str = "NOT_FOUND") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found", code=code) from None


def expiry(minutes: int) -> datetime:
    return (utcnow() + timedelta(minutes=minutes)).replace(microsecond=0)


def signed_url(
    settings: Settings, key: str, expires_at: datetime, *, scope: str | None = None
) -> str:
    """An API URL for `key`, signed for `scope` (a folder prefix of the key, or the key)."""
    return signing.api_url(key, expires_at, scope=scope, settings=settings)


def find_lesson(session: Session, lesson_id: Any):
    lesson = courses.lesson_by_id(session, parse_id(lesson_id, "lesson", "LESSON_NOT_FOUND"))
    if lesson is None:
        raise NotFound("lesson not found", code=CourseCode.LESSON_NOT_FOUND)
    return lesson


def can_manage_asset(
    session: Session, viewer: Viewer, owner_id: uuid.UUID, course_id: uuid.UUID | None
) -> bool:
    return (
        viewer.is_admin
        or viewer.user_id == owner_id
        or access.is_instructor(session, viewer.user_id, course_id)
    )


def managed_video(
    session: Session, viewer: Viewer, asset_id: Any, *, lock: bool = False
) -> VideoAsset:
    require_authenticated(viewer)
    query = select(VideoAsset).where(
        VideoAsset.id == parse_id(asset_id, "video asset", "VIDEO_ASSET_NOT_FOUND")
    )
    if lock:
        query = query.with_for_update()
    asset = session.scalar(query)
    if asset is None:
        raise NotFound("video asset not found", code=ContentCode.VIDEO_ASSET_NOT_FOUND)
    if not can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        raise Forbidden(
            "only the uploader, the course's instructors and admins may see this video",
            code="FORBIDDEN",
        )
    return asset
