"""Deleting assets and stored objects: processing stopped, files purged by a job after commit."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, FileAsset, VideoAsset
from lms.content.service.common import can_manage_asset, managed_video, parse_id
from lms.content.steps import PURGE_KIND
from lms.courses import service as courses
from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lms.jobs.models import TERMINAL, Job
from lms.jobs.service import after_commit, cancel_job, enqueue
from lms.security import Viewer, require_authenticated
from lms.storage import Storage, check_key, get_storage


def _purge_later(session: Session, prefix: str, viewer: Viewer, settings: Settings | None) -> None:
    enqueue(
        session,
        PURGE_KIND,
        {"prefix": check_key(prefix)},
        subject=("storage_prefix", prefix),
        requested_by_id=viewer.user_id,
        settings=settings,
    )


def _stop_pipeline(
    session: Session, pipeline_job_id: uuid.UUID | None, settings: Settings | None
) -> None:
    if pipeline_job_id is None:
        return
    for job in session.scalars(
        select(Job).where(or_(Job.id == pipeline_job_id, Job.parent_id == pipeline_job_id))
    ):
        if job.status not in TERMINAL:
            cancel_job(session, job.id, settings=settings)


def delete_video_asset(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> bool:
    """Delete a video asset: stop its processing, unlink its lesson, purge its stored files."""
    asset = managed_video(session, viewer, id, lock=True)
    _stop_pipeline(session, asset.pipeline_job_id, settings)
    courses.detach_video(session, asset.id)  # its lessons have nothing left to play
    _purge_later(session, f"videos/{asset.id}/", viewer, settings)
    session.delete(asset)
    return True


def _managed_file(session: Session, viewer: Viewer, asset_id: Any) -> FileAsset:
    require_authenticated(viewer)
    asset = session.get(FileAsset, parse_id(asset_id, "file asset", "FILE_ASSET_NOT_FOUND"))
    if asset is None:
        raise NotFound("file asset not found", code=ContentCode.FILE_ASSET_NOT_FOUND)
    if not can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        raise Forbidden(
            "only the uploader, the course's instructors and admins may change this file",
            code="FORBIDDEN",
        )
    return asset


def delete_file_asset(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> bool:
    """Delete a course resource and its stored files."""
    asset = _managed_file(session, viewer, id)
    _purge_later(session, f"files/{asset.id}/", viewer, settings)
    session.delete(asset)
    return True


_OWNED_KEY = re.compile(r"^(videos|files)/([0-9a-f-]{36})/")


def delete_content(
    session: Session, viewer: Viewer, *, file_key: str, settings: Settings | None = None
) -> bool:
    """Delete one stored object: a resource's file (the resource goes with it) or a video's
    source once it is processed (its renditions stay playable)."""
    settings = settings or get_settings()
    require_authenticated(viewer)
    try:
        key = check_key(file_key)
    except ValueError:
        raise ValidationFailed(
            "not a valid file key", code="BAD_USER_INPUT", field="fileKey"
        ) from None
    match = _OWNED_KEY.match(key)
    asset: VideoAsset | FileAsset | None = None
    if match:
        model = VideoAsset if match.group(1) == "videos" else FileAsset
        asset = session.get(model, uuid.UUID(match.group(2)))
    if asset is None:
        if not viewer.is_admin:
            raise NotFound("no content with this file key", code=ContentCode.CONTENT_NOT_FOUND)
    elif not can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        raise Forbidden(
            "only the uploader, the course's instructors and admins may delete this",
            code="FORBIDDEN",
        )
    storage = get_storage(settings)
    if isinstance(asset, FileAsset):
        if key != asset.key:
            raise ValidationFailed(
                "only a resource's file itself can be deleted",
                code="BAD_USER_INPUT",
                field="fileKey",
            )
        _purge_later(session, f"files/{asset.id}/", viewer, settings)
        session.delete(asset)
    elif isinstance(asset, VideoAsset):
        if key != asset.source_key:
            raise ValidationFailed(
                "only a video's source can be deleted; use deleteVideoAsset for the whole video",
                code="BAD_USER_INPUT",
                field="fileKey",
            )
        if asset.status != AssetStatus.READY:
            raise Conflict(
                "the source is still needed until the video is ready",
                code=ContentCode.VIDEO_NOT_READY,
            )
        asset.source_deleted = True
    elif storage.stat(key) is None:
        raise NotFound("no content with this file key", code=ContentCode.CONTENT_NOT_FOUND)
    # After the commit: a rolled-back request must not have deleted anything.
    after_commit(session, lambda: storage.delete(key))
    return True


def purge_storage(
    prefix: str, settings: Settings | None = None, storage: Storage | None = None
) -> int:
    """Remove every stored object under `prefix` (used by the purge job)."""
    return (storage or get_storage(settings)).delete_prefix(check_key(prefix))
