"""Reading assets: one asset, the lists a manager sees, a lesson's signed streaming URL."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.content import access
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, FileAsset, FilePurpose, VideoAsset
from lms.content.service.common import (
    can_manage_asset,
    expiry,
    find_lesson,
    managed_video,
    parse_id,
    signed_url,
)
from lms.content.service.views import file_view, video_view
from lms.courses.access import instructed_course_ids
from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lms.pagination import connection, page_request, query_key
from lms.security import Role, Viewer, require_authenticated
from lms.storage import video_prefix, video_stream_prefix


def video_seconds(session: Session, asset_id: uuid.UUID) -> int | None:
    """The playing time of a READY video in whole seconds; None until it is READY."""
    row = session.execute(
        select(VideoAsset.status, VideoAsset.duration_seconds).where(VideoAsset.id == asset_id)
    ).first()
    if row is None or row.status != AssetStatus.READY or not row.duration_seconds:
        return None
    return round(row.duration_seconds)


def ready_video_ids(session: Session, asset_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among `asset_ids` whose video is transcoded and playable (one statement)."""
    if not asset_ids:
        return set()
    return set(
        session.scalars(
            select(VideoAsset.id).where(
                VideoAsset.id.in_(list(asset_ids)), VideoAsset.status == AssetStatus.READY
            )
        )
    )


def ready_video_lengths():
    """A subquery of the READY videos' `id` and `duration_seconds` (what plays), for another
    domain to join in its own statement (a course outline stays one read)."""
    return (
        select(VideoAsset.id, VideoAsset.duration_seconds)
        .where(VideoAsset.status == AssetStatus.READY)
        .subquery("ready_videos")
    )


def get_video_asset(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """One video asset, for its uploader, the course's instructors and admins."""
    return video_view(managed_video(session, viewer, id), settings)


def get_file_asset(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """One course resource: managers always; enrolled students once it is ready."""
    require_authenticated(viewer)
    asset = session.get(FileAsset, parse_id(id, "file asset", ContentCode.FILE_ASSET_NOT_FOUND))
    if asset is None:
        raise NotFound("file asset not found", code=ContentCode.FILE_ASSET_NOT_FOUND)
    if can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        return file_view(asset, settings)
    if (
        asset.status == AssetStatus.READY
        and asset.purpose == FilePurpose.RESOURCE
        and access.can_view_course_resources(session, viewer, asset.course_id)
    ):
        return file_view(asset, settings)
    raise Forbidden(
        "only the course's instructors and enrolled students may see this file", code="FORBIDDEN"
    )


def own_submission_file(
    session: Session, viewer: Viewer, *, id: Any, course_id: uuid.UUID
) -> dict[str, Any]:
    """The viewer's own upload for work in `course_id` (`uploadSubmissionFile`), as a view
    without URLs; `FILE_ASSET_NOT_FOUND` for anything else, whoever owns it (nothing is
    revealed). The caller decides what its status and detected type allow."""
    user_id = require_authenticated(viewer)
    asset = session.get(FileAsset, parse_id(id, "file asset", ContentCode.FILE_ASSET_NOT_FOUND))
    if (
        asset is None
        or asset.owner_id != user_id
        or asset.course_id != course_id
        or asset.purpose != FilePurpose.SUBMISSION
    ):
        raise NotFound(
            "no upload of yours with this id for this course",
            code=ContentCode.FILE_ASSET_NOT_FOUND,
        )
    return file_view(asset, with_urls=False)


def generate_streaming_url(
    session: Session,
    viewer: Viewer,
    *,
    lesson_id: Any,
    resolution: str | None = None,
    format: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """An expiring URL to a lesson's HLS master or DASH manifest (or one rendition of it)."""
    settings = settings or get_settings()
    lesson = find_lesson(session, lesson_id)
    access.can_stream(session, viewer, lesson)
    fmt = (format or "hls").strip().lower()
    if fmt not in ("hls", "dash"):
        raise ValidationFailed(
            'format must be "hls" or "dash"', code=ContentCode.INVALID_FORMAT, field="format"
        )
    asset = session.get(VideoAsset, lesson.video_asset_id) if lesson.video_asset_id else None
    if asset is None or asset.status != AssetStatus.READY:
        asset = (
            session.scalar(
                select(VideoAsset)
                .where(VideoAsset.lesson_id == lesson.id, VideoAsset.status == AssetStatus.READY)
                .order_by(VideoAsset.ready_at.desc())
                .limit(1)
            )
            or asset
        )
    if asset is None:
        raise NotFound("this lesson has no video", code=ContentCode.VIDEO_NOT_FOUND)
    if asset.status != AssetStatus.READY:
        raise Conflict(
            "the lesson's video is not ready yet",
            code=ContentCode.VIDEO_NOT_READY,
            status=asset.status.value,
        )
    stream = video_stream_prefix(asset.id, asset.version)
    name = "master.m3u8" if fmt == "hls" else "manifest.mpd"
    rendition = None
    if resolution:
        wanted = resolution.strip().lower()
        videos = [r for r in asset.renditions or [] if r.get("kind") == "video"]
        rendition = next((r for r in videos if r["name"].lower() in (wanted, f"{wanted}p")), None)
        if rendition is None:
            raise ValidationFailed(
                f"no {resolution} rendition; available: {', '.join(r['name'] for r in videos)}",
                code=ContentCode.RESOLUTION_NOT_AVAILABLE,
                field="resolution",
                available=[r["name"] for r in videos],
            )
        name = (
            f"master-{rendition['name']}.m3u8"
            if fmt == "hls"
            else f"manifest-{rendition['name']}.mpd"
        )
    expires_at = expiry(settings.stream_url_minutes)
    view = video_view(asset, settings)
    return {
        "url": signed_url(
            settings, stream + name, expires_at, scope=video_prefix(asset.id, asset.version)
        ),
        "format": fmt,
        "resolution": rendition["name"] if rendition else None,
        "expires_at": expires_at,
        "video_asset_id": asset.id,
        "duration_seconds": asset.duration_seconds,
        "poster_url": view["poster_url"],
        "thumbnail_url": view["thumbnail_url"],
        "storyboard_url": view["storyboard_url"],
        "preview_url": view["preview_url"],
        "renditions": view["renditions"],
    }


def _list(
    session: Session,
    viewer: Viewer,
    model,
    *,
    filter: dict[str, Any] | None,
    pagination: dict[str, Any] | None,
    mine: bool,
    name: str,
    view,
    settings: Settings | None,
):
    user_id = require_authenticated(viewer)
    filter = dict(filter or {})
    conditions = []
    if mine:
        conditions.append(model.owner_id == user_id)
    elif not viewer.is_admin:
        if viewer.role != Role.EDUCATOR:
            raise Forbidden(
                "only educators and admins list assets; use the my… lists", code="FORBIDDEN"
            )
        taught = instructed_course_ids(user_id)
        conditions.append(or_(model.owner_id == user_id, model.course_id.in_(taught)))
    if filter.get("status"):
        conditions.append(model.status == AssetStatus(filter["status"]))
    for field in ("course_id", "lesson_id", "owner_id"):
        if filter.get(field):
            conditions.append(
                getattr(model, field) == parse_id(filter[field], field, "BAD_USER_INPUT")
            )
    if filter.get("search"):
        conditions.append(
            func.lower(model.title).contains(str(filter["search"]).strip().lower(), autoescape=True)
        )
    if filter.get("content_type") and hasattr(model, "detected_type"):
        conditions.append(model.content_type == str(filter["content_type"]).lower())
    request = page_request(
        pagination, query=query_key(name, {"filter": filter, "viewer": str(user_id)})
    )
    query = select(model).where(*conditions)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    if request.after:
        created, last_id = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        query = query.where(
            or_(model.created_at < created, and_(model.created_at == created, model.id < last_id))
        )
    rows = list(
        session.scalars(
            query.order_by(model.created_at.desc(), model.id.desc()).limit(request.first + 1)
        )
    )
    page = connection(rows, request, lambda row: [row.created_at.isoformat(), str(row.id)], total)
    for edge in page.edges:
        edge.node = view(edge.node, settings)
    return page


def list_video_assets(
    session: Session,
    viewer: Viewer,
    *,
    filter=None,
    pagination=None,
    mine: bool = False,
    settings: Settings | None = None,
):
    """Video assets the viewer manages (admins: all), newest first."""
    return _list(
        session,
        viewer,
        VideoAsset,
        filter=filter,
        pagination=pagination,
        mine=mine,
        name="myVideoAssets" if mine else "videoAssets",
        view=video_view,
        settings=settings,
    )


def list_file_assets(
    session: Session,
    viewer: Viewer,
    *,
    filter=None,
    pagination=None,
    mine: bool = False,
    settings: Settings | None = None,
):
    """Course resources the viewer manages (admins: all), newest first."""
    return _list(
        session,
        viewer,
        FileAsset,
        filter=filter,
        pagination=pagination,
        mine=mine,
        name="myFileAssets" if mine else "fileAssets",
        view=file_view,
        settings=settings,
    )
