"""Resumable video uploads in parts, for files too large for one PUT (S3 caps one at 5 GB).

`startMultipartUpload` registers the video (UPLOADING, with the same checks as
`generateUploadUrl`) and opens the upload in storage; the client PUTs each part to its
signed target (a presigned S3 `UploadPart`, or a signed local PUT with `Content-Range`).
After a dropped connection `multipartUploadParts` says which parts arrived and hands out
fresh targets for the rest. `completeMultipartUpload` joins the parts and starts ingest like
`completeUpload`; `abortMultipartUpload` drops the parts and the registered video. Uploads
left unfinished past `LMS_MULTIPART_UPLOAD_HOURS` are aborted by the scheduled cleanup.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.content import service
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, MultipartStatus, MultipartUpload, VideoAsset
from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lms.models import utcnow
from lms.security import Viewer, require_authenticated
from lms.storage import get_storage
from lms.storage.base import PartInfo

MAX_PARTS = 10_000  # S3's limit per upload
TARGETS_PER_CALL = 100  # part URLs handed out at once; ask again for more


def part_bytes_for(size: int, settings: Settings) -> int:
    """The configured part size, or larger when the file would need more than 10,000 parts."""
    return max(settings.upload_part_bytes, math.ceil(size / MAX_PARTS))


def _part_range(upload: MultipartUpload, number: int) -> tuple[int, int]:
    offset = (number - 1) * upload.part_bytes
    return offset, min(upload.part_bytes, upload.size_bytes - offset)


def _upload(
    session: Session, viewer: Viewer, upload_id: Any, *, lock: bool = False
) -> MultipartUpload:
    """The viewer's own upload (admins: anyone's), or NOT_FOUND / FORBIDDEN."""
    require_authenticated(viewer)
    query = select(MultipartUpload).where(
        MultipartUpload.id
        == service.parse_id(upload_id, "multipart upload", "MULTIPART_UPLOAD_NOT_FOUND")
    )
    if lock:
        query = query.with_for_update()
    upload = session.scalar(query)
    if upload is None:
        raise NotFound("no such multipart upload", code=ContentCode.MULTIPART_UPLOAD_NOT_FOUND)
    if upload.owner_id != viewer.user_id and not viewer.is_admin:
        raise Forbidden("only the uploader may send or finish this upload", code="FORBIDDEN")
    if upload.status != MultipartStatus.ACTIVE:
        raise Conflict(
            f"this upload is {upload.status.value.lower()}",
            code=ContentCode.MULTIPART_UPLOAD_CLOSED,
        )
    return upload


def _stored_parts(upload: MultipartUpload, settings: Settings) -> dict[int, PartInfo]:
    """Parts that arrived whole (a part of another size is as good as missing)."""
    try:
        parts = get_storage(settings).list_parts(upload.key, upload.storage_upload_id)
    except FileNotFoundError:
        raise Conflict(
            "the store no longer has this upload; start again",
            code=ContentCode.MULTIPART_UPLOAD_CLOSED,
        ) from None
    return {
        p.number: p
        for p in parts
        if 1 <= p.number <= upload.part_count and p.size == _part_range(upload, p.number)[1]
    }


def _view(
    session: Session,
    upload: MultipartUpload,
    settings: Settings,
    *,
    part_numbers: list[int] | None = None,
) -> dict[str, Any]:
    stored = _stored_parts(upload, settings)
    missing = [n for n in range(1, upload.part_count + 1) if n not in stored]
    if part_numbers is not None:
        wanted = list(dict.fromkeys(part_numbers))
        bad = [n for n in wanted if not 1 <= n <= upload.part_count]
        if bad:
            raise ValidationFailed(
                f"part numbers run from 1 to {upload.part_count}",
                code=ContentCode.PART_NUMBER_OUT_OF_RANGE,
                field="partNumbers",
                partCount=upload.part_count,
            )
        if len(wanted) > TARGETS_PER_CALL:
            raise ValidationFailed(
                f"at most {TARGETS_PER_CALL} parts at once",
                code="BAD_USER_INPUT",
                field="partNumbers",
            )
    else:
        wanted = missing[:TARGETS_PER_CALL]
    storage = get_storage(settings)
    expires_at = service.expiry(settings.upload_url_minutes)
    targets = []
    for number in wanted:
        offset, size = _part_range(upload, number)
        target = storage.part_target(
            upload.key,
            upload.storage_upload_id,
            number,
            offset=offset,
            size_bytes=size,
            part_bytes=upload.part_bytes,
            total_bytes=upload.size_bytes,
            content_type=upload.content_type,
            expires_at=expires_at,
        )
        targets.append(
            {
                "part_number": number,
                "offset": offset,
                "size_bytes": size,
                "url": target.url,
                "method": target.method,
                "headers": target.headers,
                "expires_at": target.expires_at,
            }
        )
    asset = session.get(VideoAsset, upload.video_asset_id)
    return {
        "id": upload.id,
        "file_key": upload.key,
        "status": upload.status.value,
        "size_bytes": upload.size_bytes,
        "part_size_bytes": upload.part_bytes,
        "part_count": upload.part_count,
        "expires_at": upload.expires_at,
        "uploaded_parts": [
            {"part_number": p.number, "size_bytes": p.size, "etag": p.etag}
            for p in sorted(stored.values(), key=lambda p: p.number)
        ],
        "missing_parts": missing,
        "part_targets": targets,
        "video_asset": service.video_view(asset, settings) if asset else None,
    }


def start_multipart_upload(
    session: Session, viewer: Viewer, *, input: dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Register a video and open a resumable upload of its source; targets for the first parts."""
    settings = settings or get_settings()
    asset = service.register_video(session, viewer, input=input, settings=settings)
    if asset.size_bytes <= 0:
        raise ValidationFailed(
            "a multipart upload needs the file's size", code="BAD_USER_INPUT", field="sizeBytes"
        )
    part_bytes = part_bytes_for(asset.size_bytes, settings)
    storage_id = get_storage(settings).create_multipart(
        asset.source_key, content_type=asset.content_type
    )
    upload = MultipartUpload(
        id=uuid.uuid4(),
        video_asset_id=asset.id,
        owner_id=asset.owner_id,
        key=asset.source_key,
        storage_upload_id=storage_id,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        part_bytes=part_bytes,
        part_count=math.ceil(asset.size_bytes / part_bytes),
        status=MultipartStatus.ACTIVE,
        expires_at=utcnow() + timedelta(hours=settings.multipart_upload_hours),
    )
    session.add(upload)
    session.flush()
    return _view(session, upload, settings)


def multipart_upload_parts(
    session: Session,
    viewer: Viewer,
    *,
    upload_id: Any,
    part_numbers: list[int] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Which parts arrived, which are missing, and fresh targets (the first missing ones, or
    `part_numbers`): what a client needs to resume."""
    settings = settings or get_settings()
    return _view(session, _upload(session, viewer, upload_id), settings, part_numbers=part_numbers)


def complete_multipart_upload(
    session: Session, viewer: Viewer, *, upload_id: Any, settings: Settings | None = None
) -> dict[str, Any]:
    """Join the parts into the video's source and start processing it (as `completeUpload`)."""
    settings = settings or get_settings()
    upload = _upload(session, viewer, upload_id, lock=True)
    stored = _stored_parts(upload, settings)
    missing = [n for n in range(1, upload.part_count + 1) if n not in stored]
    if missing:
        raise Conflict(
            f"{len(missing)} of {upload.part_count} parts are missing",
            code=ContentCode.MULTIPART_PARTS_MISSING,
            missingParts=missing[:TARGETS_PER_CALL],
        )
    get_storage(settings).complete_multipart(
        upload.key, upload.storage_upload_id, [stored[n] for n in sorted(stored)]
    )
    upload.status, upload.finished_at = MultipartStatus.COMPLETED, utcnow()
    return service.complete_upload(session, viewer, file_key=upload.key, settings=settings)


def _drop(session: Session, upload: MultipartUpload, settings: Settings) -> None:
    get_storage(settings).abort_multipart(upload.key, upload.storage_upload_id)
    upload.status, upload.finished_at = MultipartStatus.ABORTED, utcnow()
    asset = session.get(VideoAsset, upload.video_asset_id)
    if asset is not None and asset.status == AssetStatus.UPLOADING:
        session.delete(asset)  # nothing was made from it; its upload row goes with it


def abort_multipart_upload(
    session: Session, viewer: Viewer, *, upload_id: Any, settings: Settings | None = None
) -> bool:
    """Drop an unfinished upload: its stored parts and the video registered for it."""
    settings = settings or get_settings()
    _drop(session, _upload(session, viewer, upload_id, lock=True), settings)
    return True


def abort_abandoned_uploads(session: Session, settings: Settings | None = None) -> int:
    """Abort every upload still ACTIVE past its expiry (run on a schedule); returns the count."""
    settings = settings or get_settings()
    stale = session.scalars(
        select(MultipartUpload)
        .where(
            MultipartUpload.status == MultipartStatus.ACTIVE,
            MultipartUpload.expires_at < utcnow(),
        )
        .limit(500)
    ).all()
    for upload in stale:
        _drop(session, upload, settings)
    return len(stale)
