"""Content tasks (on the `media` queue): resource checks, purges, abandoned multipart uploads.

The video ingest pipeline's tasks are registered from its declaration
(`pipelines/registry.py`, `pipelines/video_ingest.py`); the media work lives in `media/`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from pathlib import Path

from lms.config import get_settings
from lms.content import multipart
from lms.content import service as content
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, FileAsset
from lms.content.sniff import IMAGE_TYPES, sniff
from lms.content.steps import PURGE_KIND, RESOURCE_KIND
from lms.db import session_scope
from lms.errors import PermanentJobError
from lms.storage import get_storage
from media.errors import MediaError
from media.images import resize_image
from tasks.app import app
from tasks.base import JobContext, job_task

log = logging.getLogger(__name__)
RESOURCE_THUMBNAIL_SIZES = (640, 320)


@job_task(RESOURCE_KIND)
def check_resource(job: JobContext) -> dict:
    """Check an uploaded course resource by its content; images get thumbnails."""
    settings = job.settings
    storage = get_storage(settings)
    asset_id = uuid.UUID(job.payload["file_asset_id"])
    with session_scope(settings) as session:
        asset = session.get(FileAsset, asset_id)
        if asset is None:
            return {"skipped": "deleted"}
        key, declared, version = asset.key, asset.content_type, asset.version
    folder = Path(tempfile.mkdtemp(prefix="resource-", dir=_scratch(settings)))
    try:
        local = storage.download(key, folder / "file")
        size = local.stat().st_size
        if size > settings.resource_max_bytes:
            _resource_failed(
                asset_id,
                "FILE_TOO_LARGE",
                f"the file is over {settings.resource_max_bytes} bytes",
                settings,
            )
            storage.delete(key)
            raise PermanentJobError("file too large", code=ContentCode.FILE_TOO_LARGE)
        detected = sniff(local, declared)
        if detected is None or detected not in content.RESOURCE_CONTENT_TYPES | {
            "application/vnd.ms-office"
        }:
            message = "the file's content is not an accepted document, archive, image or text type"
            _resource_failed(asset_id, "UNSUPPORTED_FILE_TYPE", message, settings)
            storage.delete(key)  # never serve bytes we could not identify
            raise PermanentJobError(message, code="UNSUPPORTED_FILE_TYPE")
        thumbnails: list[str] = []
        if detected in IMAGE_TYPES.values():
            try:
                resize_image(local, folder / "thumbs", RESOURCE_THUMBNAIL_SIZES, stem="thumb")
            except MediaError as error:
                _resource_failed(asset_id, error.code, error.message, settings)
                storage.delete(key)
                raise PermanentJobError(error.message, code=error.code) from error
            prefix = f"files/{asset_id}/{version}/thumbs/"
            storage.delete_prefix(prefix)
            thumbnails = storage.put_tree(prefix, folder / "thumbs")
        with session_scope(settings) as session:
            asset = session.get(FileAsset, asset_id)
            if asset is None:
                return {"skipped": "deleted"}
            asset.detected_type, asset.size_bytes, asset.thumbnail_keys = detected, size, thumbnails
            asset.status, asset.error_code, asset.error_message = AssetStatus.READY, None, None
            content.publish_asset(session, asset)
        return {"detected_type": detected, "size_bytes": size, "thumbnails": len(thumbnails)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _scratch(settings) -> Path:
    root = Path(settings.media_work_dir or settings.var_dir / "work")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _resource_failed(asset_id: uuid.UUID, code: str, message: str, settings) -> None:
    with session_scope(settings) as session:
        asset = session.get(FileAsset, asset_id)
        if asset is not None:
            content.mark_failed(session, asset, code, message)


@job_task(PURGE_KIND)
def purge(job: JobContext) -> dict:
    """Delete every stored object under a prefix (a deleted asset's files), and scratch files."""
    prefix = job.payload["prefix"]
    removed = content.purge_storage(prefix, job.settings)
    parts = prefix.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "videos":
        for folder in _scratch(job.settings).glob(f"video-{parts[1]}-*"):
            shutil.rmtree(folder, ignore_errors=True)
    return {"prefix": prefix, "removed": removed}


@app.task(name="content.abort_abandoned_uploads", ignore_result=True)
def abort_abandoned_uploads() -> int:
    """Abort multipart uploads left unfinished past their expiry (hourly, by beat); on the
    `default` queue, so a backlog of transcodes never holds it up."""
    settings = get_settings()
    with session_scope(settings) as session:
        return multipart.abort_abandoned_uploads(session, settings)
