"""Media tasks on the `media` queue: the ingest pipeline, its steps, resources, purges.

Thin: the pipeline lives in `pipelines/video_ingest.py`, the media work in `media/`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from pathlib import Path

from celery import Task
from sqlalchemy.exc import OperationalError

from lms.config import get_settings
from lms.content import multipart
from lms.content import service as content
from lms.content.models import AssetStatus, FileAsset
from lms.content.sniff import IMAGE_TYPES, sniff
from lms.content.steps import PIPELINE_KIND, PURGE_KIND, RESOURCE_KIND, STEPS
from lms.db import session_scope
from lms.errors import PermanentJobError
from lms.jobs import lifecycle
from lms.observability import tracing
from lms.observability.context import tagged
from lms.storage import get_storage
from media.errors import MediaError
from media.images import resize_image
from pipelines import video_ingest
from tasks.app import app
from tasks.base import JobContext, JobFailed, job_task, start_attempt

log = logging.getLogger(__name__)
RESOURCE_THUMBNAIL_SIZES = (640, 320)


@app.task(name=PIPELINE_KIND, bind=True, base=Task, throws=(JobFailed,))
def ingest(task: Task, job_id: str) -> None:
    """Start (or resume after a retry) a video's pipeline. The job stays RUNNING: the steps
    finish it (`finalize` succeeds it, a failed or cancelled step ends it)."""
    settings = get_settings()
    key = uuid.UUID(job_id)
    try:
        # The parent holds no lease: it stays RUNNING while its steps (leased) work.
        job = start_attempt(task, key, settings, leased=False)
    except OperationalError as error:
        raise task.retry(countdown=5, max_retries=None, exc=error) from error
    if job is None:
        return
    tags = {"job_id": key, "job_kind": PIPELINE_KIND, "queue": job.queue}
    try:
        # The pipeline's span: each step is enqueued under it, and enqueues the next.
        with (
            tagged(**tags, user_id=job.requested_by_id),
            tracing.span(
                f"job {PIPELINE_KIND}",
                traceparent=task.request.get("traceparent") or job.traceparent,
                kind="CONSUMER",
                attributes={f"lms.{name}": str(value) for name, value in tags.items()},
            ),
        ):
            video_ingest.begin(key, settings)
    except Exception as error:  # noqa: BLE001 - recorded on the job, not lost
        log.exception("pipeline %s could not start", key)
        message = f"{type(error).__name__}: {error}"
        failed = lifecycle.fail(
            key,
            job.attempts,
            "INTERNAL_ERROR",
            message,
            settings=settings,
            traceback=lifecycle.format_traceback(error),
        )
        if failed is not None:  # Celery's view agrees with the row: FAILURE, acked
            raise JobFailed("INTERNAL_ERROR", message) from error


def _step_task(kind: str):
    @job_task(kind)
    def step(job: JobContext) -> dict:
        return video_ingest.run_step(kind, job)

    return step


validate, transcode, images, finalize = (_step_task(step.kind) for step in STEPS)


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
            raise PermanentJobError("file too large", code="FILE_TOO_LARGE")
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
            content._publish(session, "file_asset", asset)
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
            asset.status, asset.error_code, asset.error_message = AssetStatus.FAILED, code, message
            content._publish(session, "file_asset", asset)


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
