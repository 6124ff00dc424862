"""Video and file assets.

A video asset is one uploaded source and everything the pipeline made from it (the
rendition ladder, poster, thumbnails, storyboard, preview), all under the storage prefix
`videos/{id}/{version}/`. `pipeline_job_id` is the ingest pipeline's parent job; its
children are the steps (validate, transcode, images, finalize).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class AssetStatus(enum.StrEnum):
    UPLOADING = "UPLOADING"  # waiting for the client's upload
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


_status = Enum(AssetStatus, native_enum=False, length=16)


class FilePurpose(enum.StrEnum):
    RESOURCE = "RESOURCE"  # a course resource, for the course's enrolled students
    SUBMISSION = "SUBMISSION"  # a student's upload for their own work: owner and instructors only


class VideoAsset(Base):
    __tablename__ = "video_assets"
    __table_args__ = (
        Index("ix_video_assets_owner_created", "owner_id", "created_at", "id"),
        Index("ix_video_assets_created", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("courses.id", ondelete="SET NULL"), index=True
    )
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    original_filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(
        BigInteger, default=0
    )  # declared at upload, measured after
    version: Mapped[int] = mapped_column(default=1)
    source_key: Mapped[str] = mapped_column(String(500), unique=True)
    source_deleted: Mapped[bool] = mapped_column(default=False)
    status: Mapped[AssetStatus] = mapped_column(_status, default=AssetStatus.UPLOADING, index=True)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column()
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    # [{"name": "720p", "kind": "video", "width": 1280, "height": 720, "bitrate": …,
    #   "peak_bitrate": …, "codecs": "avc1.64001f", "size_bytes": …, "playlist": "media_0.m3u8"}]
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    master_key: Mapped[str | None] = mapped_column(String(500))  # HLS
    manifest_key: Mapped[str | None] = mapped_column(String(500))  # DASH
    poster_key: Mapped[str | None] = mapped_column(String(500))
    thumbnail_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    storyboard_key: Mapped[str | None] = mapped_column(String(500))  # the WebVTT track
    preview_key: Mapped[str | None] = mapped_column(String(500))
    pipeline_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column()


class FileAsset(Base):
    """A course resource: PDF, slides, archive, image, text. Checked by content, not name."""

    __tablename__ = "file_assets"
    __table_args__ = (
        Index("ix_file_assets_owner_created", "owner_id", "created_at", "id"),
        Index("ix_file_assets_created", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # what the client declared
    detected_type: Mapped[str | None] = mapped_column(String(100))  # what the bytes are
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(default=1)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    status: Mapped[AssetStatus] = mapped_column(_status, default=AssetStatus.UPLOADING, index=True)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    thumbnail_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[FilePurpose] = mapped_column(
        Enum(FilePurpose, native_enum=False, length=16),
        default=FilePurpose.RESOURCE,
        server_default=FilePurpose.RESOURCE.value,
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MultipartStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"  # parts may be sent
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"


class MultipartUpload(Base):
    """A resumable upload of a video's source in parts (S3 multipart, or chunked local PUTs).

    The video asset is registered (UPLOADING) when the upload starts; completing joins the
    parts into `key` and starts ingest. Uploads left ACTIVE past `expires_at` are aborted by
    the scheduled cleanup (their asset goes with them)."""

    __tablename__ = "multipart_uploads"
    __table_args__ = (Index("ix_multipart_uploads_status_expires", "status", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    video_asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("video_assets.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(500))
    storage_upload_id: Mapped[str] = mapped_column(String(1024))  # S3's UploadId, or ours
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    part_bytes: Mapped[int] = mapped_column(BigInteger)
    part_count: Mapped[int] = mapped_column()
    status: Mapped[MultipartStatus] = mapped_column(
        Enum(MultipartStatus, native_enum=False, length=16), default=MultipartStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
