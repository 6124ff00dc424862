"""Object storage: one interface (`Storage`), a local folder or S3 behind it.

`get_storage(settings)` picks the backend from `LMS_STORAGE_URL`: `file:<folder>` (the
embedded default, `var/storage`) or `s3://bucket[/prefix]`. Every file of every domain goes
through it, and every link to one through `lms.storage.signing`; nothing is kept on a host's
own disk but scratch copies (`scratch_dir`). Keys: docs/architecture.md, "Storage".
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from lms.config import Settings, get_settings
from lms.storage.base import (
    ObjectInfo,
    Storage,
    StorageError,
    UploadTarget,
    check_key,
    file_prefix,
    guess_type,
    video_images_prefix,
    video_prefix,
    video_source_key,
    video_stream_prefix,
)

__all__ = [
    "ObjectInfo",
    "Storage",
    "StorageError",
    "UploadTarget",
    "check_key",
    "file_prefix",
    "get_storage",
    "guess_type",
    "local_root",
    "scratch_dir",
    "video_images_prefix",
    "video_prefix",
    "video_source_key",
    "video_stream_prefix",
]


def local_root(settings: Settings) -> Path:
    """The folder of a `file:` storage URL (`file:/abs`, `file:///abs` or `file:relative`)."""
    return Path(settings.storage_url.removeprefix("file:").removeprefix("//"))


@contextlib.contextmanager
def scratch_dir(settings: Settings, prefix: str) -> Iterator[Path]:
    """A private folder on this host for work on copies of stored files, removed afterwards.

    Never a place to keep results: another host (or the API) cannot see it.
    """
    root = Path(settings.media_work_dir or settings.var_dir / "work")
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_cache: dict[tuple, Storage] = {}


def get_storage(settings: Settings | None = None) -> Storage:
    """The configured backend (cached per configuration: boto3 clients are costly)."""
    settings = settings or get_settings()
    key = (
        settings.storage_url,
        settings.public_url,
        settings.secret_key,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_multipart_threshold_bytes,
    )
    storage = _cache.get(key)
    if storage is None:
        storage = _cache[key] = _build(settings)
    return storage


def _build(settings: Settings) -> Storage:
    parts = urlsplit(settings.storage_url)
    if parts.scheme == "s3":
        from lms.storage.s3 import S3Storage

        return S3Storage(
            parts.netloc,
            prefix=parts.path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            multipart_threshold=settings.s3_multipart_threshold_bytes,
        )
    from lms.storage.local import LocalStorage

    return LocalStorage(local_root(settings), settings=settings)
