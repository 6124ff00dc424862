"""Uploads: register a video or a course resource with a signed PUT target; `completeUpload`
checks the stored object and starts its processing.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.content import access
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, FileAsset, FilePurpose, VideoAsset
from lms.content.service.common import can_manage_asset, expiry, find_lesson, parse_id
from lms.content.service.processing import publish_asset
from lms.content.service.views import file_view, video_view
from lms.content.steps import RESOURCE_KIND, STEP_MAX_ATTEMPTS, VIDEO_INGEST
from lms.courses.access import course_exists
from lms.courses.errors import CourseCode
from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lms.jobs import pipelines
from lms.jobs.models import Job
from lms.jobs.service import enqueue
from lms.security import Role, Viewer, require_authenticated, require_role
from lms.storage import file_prefix, get_storage, video_source_key


VIDEO_CONTENT_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
        "video/x-msvideo",
        "video/mpeg",
        "video/ogg",
        "video/3gpp",
        "video/x-m4v",
    }
)


# Course resources. The bytes are checked again by a job (content sniffing): these are only
# the types a client may *declare*.
RESOURCE_CONTENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/x-zip-compressed",
        "application/gzip",
        "application/x-7z-compressed",
        "application/vnd.ms-powerpoint",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "text/plain",
        "text/markdown",
        "text/csv",
    }
)


UPLOADERS = (Role.EDUCATOR, Role.ADMIN)


MAX_TITLE = 200


def _content_type(raw: str, allowed: frozenset[str]) -> str:
    value = (raw or "").split(";", 1)[0].strip().lower()
    if value not in allowed:
        raise ValidationFailed(
            f"content type {value or '(none)'} is not accepted here",
            code=ContentCode.UNSUPPORTED_CONTENT_TYPE,
            field="contentType",
            allowed=sorted(allowed),
        )
    return value


def _size(raw: Any, limit: int) -> int:
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "sizeBytes must be a whole number", code="BAD_USER_INPUT", field="sizeBytes"
        ) from None
    if size < 0 or raw != size:
        raise ValidationFailed(
            "sizeBytes must be a whole number", code="BAD_USER_INPUT", field="sizeBytes"
        )
    if size > limit:
        raise ValidationFailed(
            f"the file is over {limit} bytes",
            code=ContentCode.FILE_TOO_LARGE,
            field="sizeBytes",
            maxBytes=limit,
        )
    return size


def safe_file_name(raw: str) -> str:
    """A file name safe in a key and a header: ASCII letters, digits, `._-`; extension kept."""
    name = PurePosixPath((raw or "").replace("\\", "/")).name
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "file"
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10].lower()
    return (stem[:100] or "file") + (f".{ext}" if ext else "")


def _title(raw: str | None, file_name: str) -> str:
    title = " ".join((raw or "").split()) or PurePosixPath(file_name).stem or "Untitled"
    if len(title) > MAX_TITLE:
        raise ValidationFailed(
            f"the title has more than {MAX_TITLE} characters", code="BAD_USER_INPUT", field="title"
        )
    return title


def detect_file_type(data: bytes, declared: str) -> str | None:
    """What `data` really is (by its first bytes, as course resources are checked), or None
    for what is never accepted: executables, scripts, HTML, SVG, unknown binaries."""
    import tempfile

    from lms.content.sniff import sniff

    with tempfile.NamedTemporaryFile(prefix="lms-sniff-") as handle:
        handle.write(data)
        handle.flush()
        return sniff(Path(handle.name), declared)


def _course_id(session: Session, course_id: Any) -> uuid.UUID:
    key = parse_id(course_id, "course", "COURSE_NOT_FOUND")
    if not course_exists(session, key):
        raise NotFound("course not found", code=CourseCode.COURSE_NOT_FOUND)
    return key


def _require_manager(session: Session, viewer: Viewer, course_id: uuid.UUID) -> None:
    if not access.can_manage_course(session, viewer, course_id):
        raise Forbidden("only this course's instructors may manage its content", code="FORBIDDEN")


def _target_course(
    session: Session, viewer: Viewer, course_id: Any, lesson_id: Any
) -> tuple[uuid.UUID | None, Any]:
    """The course (and lesson) an upload belongs to, checked for the viewer's right to manage it."""
    lesson = find_lesson(session, lesson_id) if lesson_id else None
    if lesson is not None:
        if course_id and parse_id(course_id, "course", "COURSE_NOT_FOUND") != lesson.course_id:
            raise ValidationFailed(
                "the lesson belongs to another course", code="BAD_USER_INPUT", field="lessonId"
            )
        _require_manager(session, viewer, lesson.course_id)
        return lesson.course_id, lesson
    if course_id:
        key = _course_id(session, course_id)
        _require_manager(session, viewer, key)
        return key, None
    return None, None


def _ticket(
    target, key: str, max_bytes: int, *, video: dict | None = None, file: dict | None = None
) -> dict[str, Any]:
    return {
        "upload_url": target.url,
        "method": target.method,
        "headers": target.headers,
        "file_key": key,
        "expires_at": target.expires_at,
        "max_bytes": max_bytes,
        "video_asset": video,
        "file_asset": file,
    }


def generate_upload_url(
    session: Session, viewer: Viewer, *, input: dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Register a video asset for a course or lesson and return a signed PUT target for its
    source."""
    settings = settings or get_settings()
    asset = register_video(session, viewer, input=input, settings=settings)
    target = get_storage(settings).upload_target(
        asset.source_key,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        max_bytes=settings.video_max_bytes,
        expires_at=expiry(settings.upload_url_minutes),
    )
    return _ticket(
        target, asset.source_key, settings.video_max_bytes, video=video_view(asset, settings)
    )


def register_video(
    session: Session, viewer: Viewer, *, input: dict[str, Any], settings: Settings
) -> VideoAsset:
    """A new UPLOADING video asset, after every check an upload needs (role, content type,
    size limit, the course or lesson it is for)."""
    user_id = require_role(viewer, *UPLOADERS)
    content_type = _content_type(input.get("content_type", ""), VIDEO_CONTENT_TYPES)
    size = _size(input.get("size_bytes"), settings.video_max_bytes)
    course_id, lesson = _target_course(
        session, viewer, input.get("course_id"), input.get("lesson_id")
    )
    name = safe_file_name(input.get("file_name", ""))
    asset = VideoAsset(
        id=uuid.uuid4(),
        owner_id=user_id,
        course_id=course_id,
        lesson_id=lesson.id if lesson else None,
        title=_title(input.get("title"), input.get("file_name") or name),
        original_filename=name,
        content_type=content_type,
        size_bytes=size,
        version=1,
        status=AssetStatus.UPLOADING,
    )
    asset.source_key = video_source_key(
        asset.id, asset.version, PurePosixPath(name).suffix.lower()[:10]
    )
    session.add(asset)
    session.flush()
    return asset


def upload_course_resource(
    session: Session, viewer: Viewer, *, input: dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Register a course resource (PDF, slides, archive, image, text) and return its PUT target."""
    settings = settings or get_settings()
    user_id = require_role(viewer, *UPLOADERS)
    content_type = _content_type(input.get("content_type", ""), RESOURCE_CONTENT_TYPES)
    size = _size(input.get("size_bytes"), settings.resource_max_bytes)
    course_id, lesson = _target_course(
        session, viewer, input.get("course_id"), input.get("lesson_id")
    )
    if course_id is None:
        raise ValidationFailed(
            "a course resource needs courseId", code="BAD_USER_INPUT", field="courseId"
        )
    name = safe_file_name(input.get("file_name", ""))
    asset = FileAsset(
        id=uuid.uuid4(),
        owner_id=user_id,
        course_id=course_id,
        lesson_id=lesson.id if lesson else None,
        title=_title(input.get("title"), input.get("file_name") or name),
        file_name=name,
        content_type=content_type,
        size_bytes=size,
        version=1,
        status=AssetStatus.UPLOADING,
    )
    return _register_file(session, asset, settings)


def upload_submission_file(
    session: Session, viewer: Viewer, *, input: dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Register a student's own file for their work in a course (an assignment or a quiz's file
    response) and return its PUT target. After `completeUpload` the same content check as a
    course resource runs; only its owner and the course's instructors ever see it."""
    settings = settings or get_settings()
    require_authenticated(viewer)
    content_type = _content_type(input.get("content_type", ""), RESOURCE_CONTENT_TYPES)
    size = _size(input.get("size_bytes"), settings.resource_max_bytes)
    course_id = _course_id(session, input.get("course_id"))
    if not access.can_view_course_resources(session, viewer, course_id):
        raise Forbidden("enroll in the course to upload work for it", code="FORBIDDEN")
    name = safe_file_name(input.get("file_name", ""))
    asset = FileAsset(
        id=uuid.uuid4(),
        owner_id=viewer.user_id,
        course_id=course_id,
        title=_title(None, input.get("file_name") or name),
        file_name=name,
        content_type=content_type,
        size_bytes=size,
        version=1,
        status=AssetStatus.UPLOADING,
        purpose=FilePurpose.SUBMISSION,
    )
    return _register_file(session, asset, settings)


def _register_file(session: Session, asset: FileAsset, settings: Settings) -> dict[str, Any]:
    """Store a new file asset under its versioned key and hand out its signed PUT target."""
    asset.key = f"{file_prefix(asset.id, asset.version)}{asset.file_name}"
    session.add(asset)
    session.flush()
    target = get_storage(settings).upload_target(
        asset.key,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        max_bytes=settings.resource_max_bytes,
        expires_at=expiry(settings.upload_url_minutes),
    )
    return _ticket(target, asset.key, settings.resource_max_bytes, file=file_view(asset, settings))


def _asset_by_key(
    session: Session, key: str, *, lock: bool = False
) -> VideoAsset | FileAsset | None:
    for model, column in ((VideoAsset, VideoAsset.source_key), (FileAsset, FileAsset.key)):
        query = select(model).where(column == key)
        if lock:
            query = query.with_for_update()
        found = session.scalar(query)
        if found is not None:
            return found
    return None


def complete_upload(
    session: Session, viewer: Viewer, *, file_key: str, settings: Settings | None = None
) -> dict[str, Any]:
    """The client finished its PUT: check the stored object and start processing it."""
    settings = settings or get_settings()
    require_authenticated(viewer)
    asset = _asset_by_key(session, file_key, lock=True)
    if asset is None:
        raise NotFound("no upload with this file key", code=ContentCode.UPLOAD_NOT_FOUND)
    if not can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        raise Forbidden("only the uploader may complete this upload", code="FORBIDDEN")
    if asset.status != AssetStatus.UPLOADING:
        raise Conflict(
            f"this upload was already completed ({asset.status.value})",
            code=ContentCode.UPLOAD_ALREADY_COMPLETED,
        )
    is_video = isinstance(asset, VideoAsset)
    limit = settings.video_max_bytes if is_video else settings.resource_max_bytes
    storage = get_storage(settings)
    info = storage.stat(file_key)
    if info is None:
        raise Conflict("nothing was uploaded to this file key yet", code=ContentCode.UPLOAD_MISSING)
    if info.size > limit:
        storage.delete(file_key)
        raise ValidationFailed(
            f"the file is over {limit} bytes", code=ContentCode.FILE_TOO_LARGE, maxBytes=limit
        )
    asset.size_bytes = info.size
    asset.status = AssetStatus.PROCESSING
    if is_video:
        start_pipeline(session, asset, requested_by_id=viewer.user_id, settings=settings)
        publish_asset(session, asset)
        return {
            "file_key": file_key,
            "video_asset": video_view(asset, settings),
            "file_asset": None,
        }
    job = enqueue(
        session,
        RESOURCE_KIND,
        {"file_asset_id": str(asset.id)},
        subject=("file_asset", str(asset.id)),
        requested_by_id=viewer.user_id,
        max_attempts=STEP_MAX_ATTEMPTS,
        settings=settings,
    )
    session.flush()
    asset.job_id = job.id
    publish_asset(session, asset)
    return {"file_key": file_key, "video_asset": None, "file_asset": file_view(asset, settings)}


def start_pipeline(
    session: Session,
    asset: VideoAsset,
    *,
    requested_by_id: uuid.UUID | None,
    settings: Settings | None = None,
) -> Job:
    """Record the ingest pipeline job of `asset`; its task starts the first step."""
    job = pipelines.start(
        session, VIDEO_INGEST, asset.id, requested_by_id=requested_by_id, settings=settings
    )
    asset.pipeline_job_id = job.id
    asset.status = AssetStatus.PROCESSING
    asset.error_code = asset.error_message = None
    return job
