"""The storage interface every backend implements, and the keys the Content module uses.

Keys are deterministic (`videos/{asset}/{version}/…`, `files/{asset}/{version}/…`), so a
re-run of a job overwrites its earlier output instead of leaving a second copy behind.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")


class StorageError(Exception):
    """A backend failure (network, permissions); the message names the key."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None = None


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client sends the bytes of one object (a single HTTP request)."""

    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PartInfo:
    """One stored part of a multipart upload."""

    number: int
    size: int
    etag: str


def check_key(key: str) -> str:
    """Keys are relative, with no `..` or empty segments: they can never escape the root."""
    if (
        not key
        or len(key) > 1000
        or not _KEY.match(key)
        or any(part in ("", ".", "..") for part in key.rstrip("/").split("/"))
    ):
        raise ValueError(f"invalid storage key {key!r}")
    return key


def video_prefix(asset_id: uuid.UUID, version: int) -> str:
    return f"videos/{asset_id}/{version}/"


def video_source_key(asset_id: uuid.UUID, version: int, extension: str) -> str:
    return f"{video_prefix(asset_id, version)}source/original{extension}"


def video_stream_prefix(asset_id: uuid.UUID, version: int) -> str:
    return f"{video_prefix(asset_id, version)}stream/"


def video_images_prefix(asset_id: uuid.UUID, version: int) -> str:
    return f"{video_prefix(asset_id, version)}images/"


def file_prefix(asset_id: uuid.UUID, version: int) -> str:
    return f"files/{asset_id}/{version}/"


class Storage(ABC):
    """One bucket or folder of objects addressed by key."""

    kind: str

    @abstractmethod
    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """Store the file at `path` under `key`, replacing any object there."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None: ...

    @abstractmethod
    def download(self, key: str, path: Path) -> Path:
        """Copy the object to `path`; `FileNotFoundError` when it does not exist."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object; removing a missing object is not an error."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix` (which must end in "/"); returns the count."""
        if not prefix.endswith("/"):
            raise ValueError("a prefix must end with '/'")
        keys = self.list(check_key(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)

    def put_tree(
        self, prefix: str, folder: Path, *, content_types: dict[str, str] | None = None
    ) -> list[str]:
        """Upload every file below `folder` to `prefix` + its relative path; returns the keys."""
        keys = []
        for path in sorted(
            p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
        ):
            key = prefix + path.relative_to(folder).as_posix()
            self.put_file(
                key, path, content_type=(content_types or {}).get(path.suffix) or guess_type(key)
            )
            keys.append(key)
        return keys

    @abstractmethod
    def upload_target(
        self, key: str, *, content_type: str, size_bytes: int, max_bytes: int, expires_at: datetime
    ) -> UploadTarget:
        """A URL the client PUTs the object to, valid until `expires_at`."""

    # Multipart uploads: the client sends parts (resumable: `list_parts` says which arrived),
    # then the service joins them into `key`. `FileNotFoundError` for an unknown upload.
    @abstractmethod
    def create_multipart(self, key: str, *, content_type: str) -> str:
        """Open a multipart upload to `key`; returns its upload id."""

    @abstractmethod
    def part_target(
        self,
        key: str,
        upload_id: str,
        number: int,
        *,
        offset: int,
        size_bytes: int,
        part_bytes: int,
        total_bytes: int,
        content_type: str,
        expires_at: datetime,
    ) -> UploadTarget:
        """Where the client PUTs part `number` (`size_bytes` bytes from `offset`)."""

    @abstractmethod
    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]: ...

    @abstractmethod
    def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> None:
        """Join `parts` (in order) into the object `key` and close the upload."""

    @abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; an unknown upload is not an error."""

    def presigned_get(
        self, key: str, *, expires_at: datetime, content_disposition: str | None = None
    ) -> str | None:
        """A direct download URL from the store itself, when it has one (S3); else None.

        `content_disposition` is what the store answers with (a file name, inline or not).
        """
        return None


_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".png": "image/png",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


def guess_type(key: str) -> str:
    import mimetypes

    suffix = Path(key).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
