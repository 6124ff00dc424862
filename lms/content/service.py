"""Content: uploads, assets, the ingest pipeline's control and signed playback.

Plain sync functions on a session; they validate, authorize and never commit. Views are
plain dicts (snake_case keys) built inside the session, with signed URLs already in.

Upload flow (both storage backends): `generateUploadUrl` / `uploadCourseResource` register
the asset (UPLOADING) and return a signed PUT target; the client PUTs the bytes, then calls
`completeUpload(fileKey)`, which checks the object and starts the work (the ingest pipeline
for videos, a content check for resources).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.content import access
from lms.content.models import AssetStatus, FileAsset, VideoAsset
from lms.content.steps import PURGE_KIND, RESOURCE_KIND, STEP_MAX_ATTEMPTS, STEPS, VIDEO_INGEST
from lms.courses.models import Course, CourseInstructor, Lesson
from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lms.events.bus import publish_event
from lms.events.topics import CONTENT, VIDEO_PROCESSING
from lms.jobs import pipelines
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.service import after_commit, cancel_job, enqueue
from lms.models import utcnow
from lms.pagination import connection, page_request, query_key
from lms.security import Viewer, require_authenticated, require_role
from lms.storage import (
    Storage,
    check_key,
    file_prefix,
    get_storage,
    signing,
    video_prefix,
    video_source_key,
    video_stream_prefix,
)
from lms.users.models import Role

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


# --- small helpers ------------------------------------------------------------------------


def parse_id(value: Any, what: str = "id", code: str = "NOT_FOUND") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found", code=code) from None


def video_seconds(session: Session, asset_id: uuid.UUID) -> int | None:
    """The playing time of a READY video in whole seconds; None until it is READY."""
    row = session.execute(
        select(VideoAsset.status, VideoAsset.duration_seconds).where(VideoAsset.id == asset_id)
    ).first()
    if row is None or row.status != AssetStatus.READY or not row.duration_seconds:
        return None
    return round(row.duration_seconds)


def follow_video_duration(session: Session, asset: VideoAsset) -> None:
    """Every lesson playing `asset` shows its playing time (called when it becomes READY)."""
    session.execute(
        update(Lesson)
        .where(Lesson.video_asset_id == asset.id)
        .values(duration_seconds=round(asset.duration_seconds or 0))
    )


def _content_type(raw: str, allowed: frozenset[str]) -> str:
    value = (raw or "").split(";", 1)[0].strip().lower()
    if value not in allowed:
        raise ValidationFailed(
            f"content type {value or '(none)'} is not accepted here",
            code="UNSUPPORTED_CONTENT_TYPE",
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
            code="FILE_TOO_LARGE",
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


def _expiry(minutes: int) -> datetime:
    return (utcnow() + timedelta(minutes=minutes)).replace(microsecond=0)


def detect_file_type(data: bytes, declared: str) -> str | None:
    """What `data` really is (by its first bytes, as course resources are checked), or None
    for what is never accepted: executables, scripts, HTML, SVG, unknown binaries."""
    import tempfile

    from lms.content.sniff import sniff

    with tempfile.NamedTemporaryFile(prefix="lms-sniff-") as handle:
        handle.write(data)
        handle.flush()
        return sniff(Path(handle.name), declared)


def signed_url(
    settings: Settings, key: str, expires_at: datetime, *, scope: str | None = None
) -> str:
    """An API URL for `key`, signed for `scope` (a folder prefix of the key, or the key)."""
    return signing.api_url(key, expires_at, scope=scope, settings=settings)


def _lesson(session: Session, lesson_id: Any) -> Lesson:
    lesson = session.get(Lesson, parse_id(lesson_id, "lesson", "LESSON_NOT_FOUND"))
    if lesson is None:
        raise NotFound("lesson not found", code="LESSON_NOT_FOUND")
    return lesson


def _course(session: Session, course_id: Any) -> Course:
    course = session.get(Course, parse_id(course_id, "course", "COURSE_NOT_FOUND"))
    if course is None:
        raise NotFound("course not found", code="COURSE_NOT_FOUND")
    return course


def _require_manager(session: Session, viewer: Viewer, course_id: uuid.UUID) -> None:
    if not access.can_manage_course(session, viewer, course_id):
        raise Forbidden("only this course's instructors may manage its content", code="FORBIDDEN")


def _target_course(
    session: Session, viewer: Viewer, course_id: Any, lesson_id: Any
) -> tuple[uuid.UUID | None, Lesson | None]:
    """The course (and lesson) an upload belongs to, checked for the viewer's right to manage it."""
    lesson = _lesson(session, lesson_id) if lesson_id else None
    if lesson is not None:
        if course_id and parse_id(course_id, "course", "COURSE_NOT_FOUND") != lesson.course_id:
            raise ValidationFailed(
                "the lesson belongs to another course", code="BAD_USER_INPUT", field="lessonId"
            )
        _require_manager(session, viewer, lesson.course_id)
        return lesson.course_id, lesson
    if course_id:
        course = _course(session, course_id)
        _require_manager(session, viewer, course.id)
        return course.id, None
    return None, None


def _can_manage_asset(
    session: Session, viewer: Viewer, owner_id: uuid.UUID, course_id: uuid.UUID | None
) -> bool:
    return (
        viewer.is_admin
        or viewer.user_id == owner_id
        or access.is_instructor(session, viewer.user_id, course_id)
    )


def _managed_video(
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
        raise NotFound("video asset not found", code="VIDEO_ASSET_NOT_FOUND")
    if not _can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        raise Forbidden(
            "only the uploader, the course's instructors and admins may see this video",
            code="FORBIDDEN",
        )
    return asset


def _publish(session: Session, kind: str, asset: VideoAsset | FileAsset) -> None:
    data = {
        "type": kind,
        "id": str(asset.id),
        "status": asset.status.value,
        "errorCode": asset.error_code,
        "ownerId": str(asset.owner_id),
        "courseId": str(asset.course_id) if asset.course_id else None,
    }
    after_commit(session, lambda: publish_event(CONTENT, data))
    if isinstance(asset, VideoAsset):
        publish_processing(session, asset)


def publish_processing(session: Session, asset: VideoAsset) -> None:
    """After commit, tell `videoProcessingUpdated` subscribers where the video stands now."""
    update = processing_event(processing_status(session, asset))
    after_commit(session, lambda: publish_event(VIDEO_PROCESSING, update))


# --- views --------------------------------------------------------------------------------


def video_view(
    asset: VideoAsset, settings: Settings | None = None, *, with_urls: bool = True
) -> dict[str, Any]:
    settings = settings or get_settings()
    view = {column: getattr(asset, column) for column in VideoAsset.__table__.columns.keys()}
    view["status"] = asset.status.value
    view["file_key"] = asset.source_key
    view["processing_job_id"] = asset.pipeline_job_id
    view["renditions"] = [dict(r) for r in asset.renditions or []]
    view["poster_url"] = view["thumbnail_url"] = view["storyboard_url"] = view["preview_url"] = None
    if with_urls and asset.status == AssetStatus.READY:
        expires = _expiry(settings.stream_url_minutes)
        scope = video_prefix(asset.id, asset.version)
        sign = lambda key: signed_url(settings, key, expires, scope=scope) if key else None  # noqa: E731
        view["poster_url"] = sign(asset.poster_key)
        view["thumbnail_url"] = sign(_thumbnail(asset.thumbnail_keys, 640))
        view["storyboard_url"] = sign(asset.storyboard_key)
        view["preview_url"] = sign(asset.preview_key)
    return view


def _thumbnail(keys: list[str] | None, width: int) -> str | None:
    """The JPEG thumbnail closest to `width` (JPEG: every client decodes it)."""
    jpegs = [k for k in keys or [] if k.endswith(".jpg")]
    if not jpegs:
        return None

    def size(key: str) -> int:
        match = re.search(r"-(\d+)\.jpg$", key)
        return int(match.group(1)) if match else 0

    return min(jpegs, key=lambda k: abs(size(k) - width))


def file_view(
    asset: FileAsset, settings: Settings | None = None, *, with_urls: bool = True
) -> dict[str, Any]:
    settings = settings or get_settings()
    view = {column: getattr(asset, column) for column in FileAsset.__table__.columns.keys()}
    view["status"] = asset.status.value
    view["file_key"] = asset.key
    view["download_url"] = view["thumbnail_url"] = None
    if with_urls and asset.status == AssetStatus.READY:
        # One file each: presigned by the store on S3, served by the API on local storage.
        seconds = settings.stream_url_minutes * 60
        view["download_url"] = signing.file_url(asset.key, seconds, settings=settings)[0]
        thumb = _thumbnail(asset.thumbnail_keys, 320)
        view["thumbnail_url"] = (
            signing.file_url(thumb, seconds, settings=settings)[0] if thumb else None
        )
    return view


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


# --- uploads ------------------------------------------------------------------------------


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
        expires_at=_expiry(settings.upload_url_minutes),
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
    asset.key = f"{file_prefix(asset.id, asset.version)}{name}"
    session.add(asset)
    session.flush()
    target = get_storage(settings).upload_target(
        asset.key,
        content_type=content_type,
        size_bytes=size,
        max_bytes=settings.resource_max_bytes,
        expires_at=_expiry(settings.upload_url_minutes),
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
        raise NotFound("no upload with this file key", code="UPLOAD_NOT_FOUND")
    if not _can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        raise Forbidden("only the uploader may complete this upload", code="FORBIDDEN")
    if asset.status != AssetStatus.UPLOADING:
        raise Conflict(
            f"this upload was already completed ({asset.status.value})",
            code="UPLOAD_ALREADY_COMPLETED",
        )
    is_video = isinstance(asset, VideoAsset)
    limit = settings.video_max_bytes if is_video else settings.resource_max_bytes
    storage = get_storage(settings)
    info = storage.stat(file_key)
    if info is None:
        raise Conflict("nothing was uploaded to this file key yet", code="UPLOAD_MISSING")
    if info.size > limit:
        storage.delete(file_key)
        raise ValidationFailed(
            f"the file is over {limit} bytes", code="FILE_TOO_LARGE", maxBytes=limit
        )
    asset.size_bytes = info.size
    asset.status = AssetStatus.PROCESSING
    if is_video:
        start_pipeline(session, asset, requested_by_id=viewer.user_id, settings=settings)
        _publish(session, "video_asset", asset)
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
    _publish(session, "file_asset", asset)
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


# --- deleting -----------------------------------------------------------------------------


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
    asset = _managed_video(session, viewer, id, lock=True)
    _stop_pipeline(session, asset.pipeline_job_id, settings)
    for lesson in session.scalars(select(Lesson).where(Lesson.video_asset_id == asset.id)):
        lesson.video_asset_id, lesson.duration_seconds = None, 0  # nothing left to play
    _purge_later(session, f"videos/{asset.id}/", viewer, settings)
    session.delete(asset)
    return True


def _managed_file(session: Session, viewer: Viewer, asset_id: Any) -> FileAsset:
    require_authenticated(viewer)
    asset = session.get(FileAsset, parse_id(asset_id, "file asset", "FILE_ASSET_NOT_FOUND"))
    if asset is None:
        raise NotFound("file asset not found", code="FILE_ASSET_NOT_FOUND")
    if not _can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
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
            raise NotFound("no content with this file key", code="CONTENT_NOT_FOUND")
    elif not _can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
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
                "the source is still needed until the video is ready", code="VIDEO_NOT_READY"
            )
        asset.source_deleted = True
    elif storage.stat(key) is None:
        raise NotFound("no content with this file key", code="CONTENT_NOT_FOUND")
    # After the commit: a rolled-back request must not have deleted anything.
    after_commit(session, lambda: storage.delete(key))
    return True


# --- pipeline control ---------------------------------------------------------------------


def _pipeline_of(session: Session, viewer: Viewer, id: Any) -> tuple[VideoAsset, Job]:
    """The asset and pipeline job for `id`: a pipeline job, one of its steps, or the asset."""
    key = parse_id(id, "processing job", "JOB_NOT_FOUND")
    job = session.get(Job, key)
    asset_id = key
    if job is not None:
        pipeline = session.get(Job, job.parent_id) if job.parent_id else job
        if pipeline is None or pipeline.kind != VIDEO_INGEST.kind:
            raise NotFound("not a video processing job", code="JOB_NOT_FOUND")
        asset_id = pipeline.payload.get("video_asset_id")
    elif session.get(VideoAsset, key) is None:
        raise NotFound("processing job not found", code="JOB_NOT_FOUND")
    asset = _managed_video(session, viewer, asset_id, lock=True)
    if asset.pipeline_job_id is None:
        raise Conflict("this video was never submitted for processing", code="NOT_PROCESSING")
    pipeline = session.scalar(select(Job).where(Job.id == asset.pipeline_job_id).with_for_update())
    if pipeline is None:
        raise NotFound("processing job not found", code="JOB_NOT_FOUND")
    return asset, pipeline


def retry_processing_job(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """Run a failed or cancelled video pipeline again, from the step that did not finish."""
    asset, pipeline = _pipeline_of(session, viewer, id)
    if pipeline.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            "only failed or cancelled processing can be retried "
            f"(this one is {pipeline.status.value})",
            code="JOB_NOT_RETRYABLE",
        )
    if asset.source_deleted:
        raise Conflict(
            "the source of this video was deleted; upload it again", code="SOURCE_DELETED"
        )
    pipelines.retry(session, VIDEO_INGEST, pipeline, settings=settings)
    asset.status = AssetStatus.PROCESSING
    asset.error_code = asset.error_message = None
    _publish(session, "video_asset", asset)
    return processing_status(session, asset)


def cancel_processing_job(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """Stop a video's processing: waiting steps at once, a running step kills its ffmpeg."""
    asset, pipeline = _pipeline_of(session, viewer, id)
    if pipeline.status in TERMINAL:
        raise Conflict(
            f"processing already {pipeline.status.value.lower()}", code="JOB_ALREADY_FINISHED"
        )
    if not pipelines.cancel(session, VIDEO_INGEST, pipeline, settings=settings):
        # The running step sees the request within a second, kills ffmpeg and finishes the
        # pipeline as CANCELLED itself (it also removes its scratch files).
        return processing_status(session, asset)
    mark_cancelled(session, asset)
    return processing_status(session, asset)


def mark_cancelled(session: Session, asset: VideoAsset) -> None:
    mark_failed(session, asset, "CANCELLED", "processing was cancelled")


def mark_failed(session: Session, asset: VideoAsset | FileAsset, code: str, message: str) -> None:
    """The asset's processing failed with a stable code (subscribers hear of it after commit)."""
    asset.status = AssetStatus.FAILED
    asset.error_code, asset.error_message = code, message
    publish_asset(session, asset)


def mark_ready(
    session: Session, asset: VideoAsset, ladder: dict[str, Any], pictures: dict[str, Any]
) -> None:
    """The ingest pipeline's outputs (the transcode and images steps' results) are stored:
    the video plays from now on, in its lesson too."""
    asset.renditions = ladder["renditions"]
    asset.duration_seconds = ladder["duration"]
    asset.master_key, asset.manifest_key = ladder["master_key"], ladder["manifest_key"]
    asset.poster_key, asset.thumbnail_keys = pictures["poster_key"], pictures["thumbnail_keys"]
    asset.storyboard_key, asset.preview_key = pictures["storyboard_key"], pictures["preview_key"]
    asset.status, asset.error_code, asset.error_message = AssetStatus.READY, None, None
    asset.ready_at = utcnow()
    if asset.lesson_id is not None:
        lesson = session.get(Lesson, asset.lesson_id)
        if lesson is not None:  # the lesson plays this video from now on
            lesson.video_asset_id = asset.id
    follow_video_duration(session, asset)  # however each lesson attached it
    publish_asset(session, asset)


def publish_asset(session: Session, asset: VideoAsset | FileAsset) -> None:
    """After commit, tell content (and, for a video, processing) subscribers its state."""
    _publish(session, "video_asset" if isinstance(asset, VideoAsset) else "file_asset", asset)


def processing_status(session: Session, asset: VideoAsset) -> dict[str, Any]:
    pipeline = session.get(Job, asset.pipeline_job_id) if asset.pipeline_job_id else None
    latest: dict[str, Job] = {}
    if pipeline is not None:
        for job in session.scalars(
            select(Job).where(Job.parent_id == pipeline.id).order_by(Job.created_at)
        ):
            latest[job.kind] = job  # a re-run of a finished step adds a newer row
    steps, progress = [], 0.0
    for step in STEPS:
        job = latest.get(step.kind)
        fraction = (
            1.0
            if job is not None and job.status == JobStatus.SUCCEEDED
            else (job.progress if job else 0.0)
        )
        progress += step.weight * fraction
        steps.append(
            {
                "name": step.name,
                "kind": step.kind,
                "job_id": job.id if job else None,
                "status": job.status.value if job else "PENDING",
                "progress": fraction,
                "message": job.progress_message if job else None,
                "attempts": job.attempts if job else 0,
                "error_code": job.error_code if job else None,
                "error_message": job.error_message if job else None,
                "started_at": job.started_at if job else None,
                "finished_at": job.finished_at if job else None,
            }
        )
    if asset.status == AssetStatus.READY:
        progress = 1.0
    return {
        "video_asset_id": asset.id,
        "status": asset.status.value,
        "error_code": asset.error_code,
        "error_message": asset.error_message,
        "progress": round(min(progress, 1.0), 4),
        "job_id": pipeline.id if pipeline else None,
        "job_status": pipeline.status.value if pipeline else None,
        "steps": steps,
        "updated_at": asset.updated_at,
    }


def video_processing_status(
    session: Session, viewer: Viewer, *, video_asset_id: Any
) -> dict[str, Any]:
    """Where a video's processing stands: overall, and step by step."""
    return processing_status(session, _managed_video(session, viewer, video_asset_id))


def processing_update(
    *,
    video_asset_id: Any,
    status: str,
    step: str | None,
    step_status: str | None,
    progress: float,
    message: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    job_id: Any = None,
) -> dict[str, Any]:
    """One `videoProcessingUpdated` payload (the bus carries it as is: camelCase, strings)."""
    progress = round(max(0.0, min(progress, 1.0)), 4)
    return {
        "videoAssetId": str(video_asset_id),
        "status": status,
        "step": step,
        "stepStatus": step_status,
        "progress": progress,
        "percent": round(progress * 100, 1),
        "message": message,
        "errorCode": error_code,
        "errorMessage": error_message,
        "jobId": str(job_id) if job_id else None,
        "at": utcnow().isoformat(),
    }


def processing_event(status: dict[str, Any]) -> dict[str, Any]:
    """A `processing_status` view as one update: the step in hand is the first one that
    started and has not succeeded, else the last one that did."""
    started = [s for s in status["steps"] if s["status"] != "PENDING"]
    step = next(
        (s for s in started if s["status"] != "SUCCEEDED"), started[-1] if started else None
    )
    return processing_update(
        video_asset_id=status["video_asset_id"],
        status=status["status"],
        step=step["name"] if step else None,
        step_status=step["status"] if step else None,
        progress=status["progress"],
        message=step["message"] if step else None,
        error_code=status["error_code"],
        error_message=status["error_message"],
        job_id=status["job_id"],
    )


def video_processing_update(
    session: Session, viewer: Viewer, *, video_asset_id: Any
) -> dict[str, Any]:
    """The current `videoProcessingUpdated` state (uploader, the course's instructors, admins)."""
    return processing_event(video_processing_status(session, viewer, video_asset_id=video_asset_id))


# --- reading ------------------------------------------------------------------------------


def get_video_asset(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """One video asset, for its uploader, the course's instructors and admins."""
    return video_view(_managed_video(session, viewer, id), settings)


def get_file_asset(
    session: Session, viewer: Viewer, *, id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """One course resource: managers always; enrolled students once it is ready."""
    require_authenticated(viewer)
    asset = session.get(FileAsset, parse_id(id, "file asset", "FILE_ASSET_NOT_FOUND"))
    if asset is None:
        raise NotFound("file asset not found", code="FILE_ASSET_NOT_FOUND")
    if _can_manage_asset(session, viewer, asset.owner_id, asset.course_id):
        return file_view(asset, settings)
    if asset.status == AssetStatus.READY and access.can_view_course_resources(
        session, viewer, asset.course_id
    ):
        return file_view(asset, settings)
    raise Forbidden(
        "only the course's instructors and enrolled students may see this file", code="FORBIDDEN"
    )


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
    lesson = _lesson(session, lesson_id)
    access.can_stream(session, viewer, lesson)
    fmt = (format or "hls").strip().lower()
    if fmt not in ("hls", "dash"):
        raise ValidationFailed(
            'format must be "hls" or "dash"', code="INVALID_FORMAT", field="format"
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
        raise NotFound("this lesson has no video", code="VIDEO_NOT_FOUND")
    if asset.status != AssetStatus.READY:
        raise Conflict(
            "the lesson's video is not ready yet", code="VIDEO_NOT_READY", status=asset.status.value
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
                code="RESOLUTION_NOT_AVAILABLE",
                field="resolution",
                available=[r["name"] for r in videos],
            )
        name = (
            f"master-{rendition['name']}.m3u8"
            if fmt == "hls"
            else f"manifest-{rendition['name']}.mpd"
        )
    expires_at = _expiry(settings.stream_url_minutes)
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
        taught = select(CourseInstructor.course_id).where(CourseInstructor.user_id == user_id)
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


def purge_storage(
    prefix: str, settings: Settings | None = None, storage: Storage | None = None
) -> int:
    """Remove every stored object under `prefix` (used by the purge job)."""
    return (storage or get_storage(settings)).delete_prefix(check_key(prefix))
