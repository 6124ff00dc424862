"""The ingest pipeline's control and what the uploader hears of it: retry, cancel, the
pipeline's outcome on the asset, and the `videoProcessingUpdated` state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, FileAsset, VideoAsset
from lms.content.service.common import managed_video, parse_id
from lms.content.steps import STEPS, VIDEO_INGEST
from lms.courses import service as courses
from lms.errors import Conflict, NotFound
from lms.events.bus import publish_event
from lms.events.topics import CONTENT, VIDEO_PROCESSING
from lms.jobs import pipelines
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.service import after_commit
from lms.models import utcnow
from lms.security import Viewer


def follow_video_duration(session: Session, asset: VideoAsset) -> None:
    """Every lesson playing `asset` shows its playing time (called when it becomes READY)."""
    courses.follow_video_duration(session, asset.id, asset.duration_seconds)


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
    asset = managed_video(session, viewer, asset_id, lock=True)
    if asset.pipeline_job_id is None:
        raise Conflict(
            "this video was never submitted for processing", code=ContentCode.NOT_PROCESSING
        )
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
            "the source of this video was deleted; upload it again", code=ContentCode.SOURCE_DELETED
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
        courses.play_video_in_lesson(session, asset.lesson_id, asset.id)
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
    return processing_status(session, managed_video(session, viewer, video_asset_id))


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
