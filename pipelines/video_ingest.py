"""Video ingest: validate → transcode → images → finalize.

The pipeline is one parent job (`media.ingest`) whose children are the steps, each a job of
its own with progress. The parent's task queues the first step that has not succeeded
(so a retry resumes at the failed step); each step queues the next when it succeeds, and
`finalize` completes the parent. Steps are idempotent: they fetch the source from storage
when their scratch folder lacks it (a step may run on another worker), write outputs under
deterministic keys (`videos/{asset}/{version}/stream/…`, `…/images/…`) after removing what an
earlier run left there, so a re-run replaces rather than duplicates.

On a permanent failure the asset shows the step's stable code (`INVALID_MEDIA`,
`NO_VIDEO_STREAM`, …) and the uploader gets an email job; a cancel kills ffmpeg, marks the
pipeline CANCELLED and removes the scratch folder.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import media
from lms.config import Settings
from lms.content import service as content
from lms.content.models import AssetStatus, VideoAsset
from lms.content.steps import STEP_BY_KIND, STEP_MAX_ATTEMPTS, STEPS, Step, next_step
from lms.courses.models import Course, Lesson
from lms.db import session_scope
from lms.errors import LmsError, PermanentJobError, TransientJobError
from lms.events.bus import publish_event
from lms.events.topics import VIDEO_PROCESSING
from lms.jobs import states
from lms.jobs.lifecycle import JobCancelled, Progress
from lms.jobs.models import TERMINAL, Job, JobStatus
from lms.jobs.service import enqueue, retry_job
from lms.models import utcnow
from lms.notifications.service import notify
from lms.observability import metrics
from lms.storage import Storage, StorageError, get_storage, video_images_prefix, video_stream_prefix
from lms.users.models import User
from media.errors import CANCELLED as MEDIA_CANCELLED
from media.errors import MediaError
from media.manifests import read_media_playlist
from media.preview import MAX_PREVIEW_WIDTH
from tasks.base import JobContext

log = logging.getLogger(__name__)
_MPD_NS = "urn:mpeg:dash:schema:mpd:2011"


@dataclass(frozen=True)
class AssetRef:
    """What a step needs to know about its asset, read once in a short transaction."""

    id: uuid.UUID
    version: int
    source_key: str
    pipeline_job_id: uuid.UUID
    max_attempts: int
    file_name: str = ""  # as uploaded: what messages to the educator call the file


def work_dir(settings: Settings, asset_id: uuid.UUID, version: int) -> Path:
    root = settings.media_work_dir or settings.var_dir / "work"
    return Path(root) / f"video-{asset_id}-{version}"


def _locked(session: Session, model, key):
    query = select(model).where(model.id == key)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def _latest_steps(session: Session, parent_id: uuid.UUID) -> dict[str, Job]:
    latest: dict[str, Job] = {}
    for job in session.scalars(
        select(Job).where(Job.parent_id == parent_id).order_by(Job.created_at)
    ):
        latest[job.kind] = job
    return latest


def _queue_step(
    session: Session,
    parent: Job,
    asset_id: uuid.UUID,
    step: Step,
    existing: Job | None,
    settings: Settings,
) -> None:
    """Queue `step`: the same job row again after a failure or cancel, a new row otherwise."""
    if existing is not None and existing.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        retry_job(session, existing.id, settings=settings)
    elif existing is not None and existing.status not in TERMINAL:
        return  # already on its way (a redelivered message)
    else:
        enqueue(
            session,
            step.kind,
            {"video_asset_id": str(asset_id), "pipeline_job_id": str(parent.id)},
            subject=("video_asset", str(asset_id)),
            requested_by_id=parent.requested_by_id,
            parent_id=parent.id,
            max_attempts=STEP_MAX_ATTEMPTS,
            settings=settings,
        )


# --- the pipeline job ---------------------------------------------------------------------


def begin(parent_id: uuid.UUID, settings: Settings) -> str | None:
    """Start or resume the pipeline: queue its first step that has not succeeded."""
    with session_scope(settings) as session:
        parent = _locked(session, Job, parent_id)
        asset = session.scalar(select(VideoAsset).where(VideoAsset.pipeline_job_id == parent_id))
        if parent is None or parent.status in TERMINAL:
            return None
        if asset is None:
            _finish_parent(
                session,
                parent,
                JobStatus.FAILED,
                "the video asset was deleted",
                settings,
                code="VIDEO_ASSET_NOT_FOUND",
            )
            return None
        latest = _latest_steps(session, parent_id)
        pending = next(
            (
                step
                for step in STEPS
                if getattr(latest.get(step.kind), "status", None) != JobStatus.SUCCEEDED
            ),
            STEPS[-1],
        )  # everything succeeded once: finalize again
        _queue_step(session, parent, asset.id, pending, latest.get(pending.kind), settings)
        states.change(
            session,
            parent,
            message=f"{pending.name} queued",
            settings=settings,
            progress=sum(s.weight for s in STEPS[: STEPS.index(pending)]),
            progress_message=f"{pending.name} queued",
        )
        content.publish_processing(session, asset)
        return pending.name


def _finish_parent(
    session: Session,
    parent: Job,
    status: JobStatus,
    message: str,
    settings: Settings,
    *,
    code: str | None = None,
    result: dict | None = None,
) -> None:
    if parent.status in TERMINAL:
        return
    fields: dict[str, Any] = {"finished_at": utcnow()}
    if code:
        fields.update(error_code=code, error_message=message)
    if status == JobStatus.SUCCEEDED:
        fields.update(progress=1.0, progress_message="done", result=result)
    states.change(
        session,
        parent,
        message=message[:500],
        status=status,
        event_code=code,
        settings=settings,
        **fields,
    )


# --- running one step ---------------------------------------------------------------------


def run_step(kind: str, job: JobContext) -> dict[str, Any]:
    """Run the step `kind` for the job's asset, then queue the next step."""
    step = STEP_BY_KIND[kind]
    settings = job.settings
    ref = _load(job)
    job = replace(job, progress=_ReportedProgress(job.progress, ref, step, settings))
    folder = work_dir(settings, ref.id, ref.version)
    try:
        result = _STEP_FUNCTIONS[step.name](ref, job, folder, settings)
    except JobCancelled:
        _cancelled(ref, job.job_id, folder, settings)
        raise
    except MediaError as error:
        if error.code == MEDIA_CANCELLED:
            _cancelled(ref, job.job_id, folder, settings)
            raise JobCancelled() from error
        if error.permanent or job.attempt >= ref.max_attempts:
            _failed(ref, job.job_id, error.code, error.message, settings)
            raise PermanentJobError(error.message, code=error.code) from error
        raise TransientJobError(error.message, code=error.code) from error
    except (StorageError, ConnectionError, TimeoutError, OperationalError) as error:
        if job.attempt >= ref.max_attempts:
            _failed(ref, job.job_id, "STORAGE_UNAVAILABLE", str(error), settings)
            raise PermanentJobError(str(error), code="STORAGE_UNAVAILABLE") from error
        raise TransientJobError(str(error), code="STORAGE_UNAVAILABLE") from error
    except LmsError as error:
        if not isinstance(error, TransientJobError) or job.attempt >= ref.max_attempts:
            _failed(ref, job.job_id, error.code, error.message, settings)
        raise
    except Exception:  # a bug: the asset must not stay PROCESSING forever
        # The task base records this step's failure itself, with the traceback for operators.
        _failed(
            ref,
            None,
            "INTERNAL_ERROR",
            "processing failed unexpectedly; operators have the details",
            settings,
        )
        raise
    if step.name != "finalize":
        _advance(ref, step, job.job_id, result, settings)
    return result


class _ReportedProgress:
    """The step's `Progress`, whose ticks also reach `videoProcessingUpdated` subscribers (the
    job event is keyed by the step's job id, which the uploader does not know)."""

    def __init__(self, progress: Progress, ref: AssetRef, step: Step, settings: Settings):
        self._progress, self._ref, self._step, self._settings = progress, ref, step, settings
        self._done_before = sum(s.weight for s in STEPS[: STEPS.index(step)])
        self._last = 0.0

    def __call__(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        self._progress(fraction, message, force=force)
        now = time.monotonic()
        if not force and now - self._last < self._progress.interval:
            return  # as often as the job row is written, no more
        self._last = now
        update = content.processing_update(
            video_asset_id=self._ref.id,
            status=AssetStatus.PROCESSING.value,
            step=self._step.name,
            step_status=JobStatus.RUNNING.value,
            progress=self._done_before + self._step.weight * max(0.0, min(fraction, 1.0)),
            message=message,
            job_id=self._ref.pipeline_job_id,
        )
        publish_event(VIDEO_PROCESSING, update, self._settings)

    def __getattr__(self, name: str) -> Any:  # check(), cancel_requested(), …
        return getattr(self._progress, name)


def _load(job: JobContext) -> AssetRef:
    asset_id = uuid.UUID(job.payload["video_asset_id"])
    parent_id = uuid.UUID(job.payload["pipeline_job_id"])
    with session_scope(job.settings) as session:
        parent = session.get(Job, parent_id)
        asset = session.get(VideoAsset, asset_id)
        me = session.get(Job, job.job_id)
        if parent is None or parent.status in TERMINAL or parent.cancel_requested or asset is None:
            raise JobCancelled()  # the pipeline was cancelled or its asset deleted meanwhile
        return AssetRef(
            asset.id,
            asset.version,
            asset.source_key,
            parent_id,
            me.max_attempts if me else STEP_MAX_ATTEMPTS,
            asset.original_filename,
        )


def _succeed_step(
    session: Session, step_job_id: uuid.UUID, result: dict[str, Any], settings: Settings
) -> None:
    """Mark the running step SUCCEEDED in the transaction that moves the pipeline on, so no
    one ever sees the next step (or a READY video) while this one still shows RUNNING. The
    task base then finds the job finished and leaves it alone."""
    me = _locked(session, Job, step_job_id)
    if me is not None and me.status not in TERMINAL:
        states.change(
            session,
            me,
            message="succeeded",
            status=JobStatus.SUCCEEDED,
            settings=settings,
            progress=1.0,
            progress_message="done",
            result=result,
            finished_at=utcnow(),
        )


def _advance(
    ref: AssetRef, step: Step, step_job_id: uuid.UUID, result: dict[str, Any], settings: Settings
) -> None:
    with session_scope(settings) as session:
        parent = _locked(session, Job, ref.pipeline_job_id)
        asset = _locked(session, VideoAsset, ref.id)
        if parent is None or asset is None or parent.status in TERMINAL:
            return
        _succeed_step(session, step_job_id, result, settings)
        if parent.cancel_requested:  # cancelled between two steps
            _finish_parent(session, parent, JobStatus.CANCELLED, "cancelled", settings)
            content.mark_cancelled(session, asset)
            return
        following = next_step(step.kind)
        _queue_step(
            session,
            parent,
            ref.id,
            following,
            _latest_steps(session, parent.id).get(following.kind),
            settings,
        )
        states.change(
            session,
            parent,
            message=f"{step.name} done",
            settings=settings,
            progress=sum(s.weight for s in STEPS[: STEPS.index(following)]),
            progress_message=f"{step.name} done",
        )
        content.publish_processing(session, asset)


def _end_step(
    session: Session,
    step_job_id: uuid.UUID,
    status: JobStatus,
    message: str,
    settings: Settings,
    code: str | None = None,
) -> None:
    """End the step in the same transaction as its pipeline (see `_succeed_step`)."""
    me = _locked(session, Job, step_job_id)
    if me is not None and me.status not in TERMINAL:
        fields = {"error_code": code, "error_message": message} if code else {}
        states.change(
            session,
            me,
            message=message[:500],
            status=status,
            event_code=code,
            settings=settings,
            finished_at=utcnow(),
            **fields,
        )


def _failed(
    ref: AssetRef, step_job_id: uuid.UUID | None, code: str, message: str, settings: Settings
) -> None:
    """The pipeline failed: the asset shows the code, the uploader gets an email."""
    with session_scope(settings) as session:
        parent = _locked(session, Job, ref.pipeline_job_id)
        asset = _locked(session, VideoAsset, ref.id)
        if step_job_id is not None:
            _end_step(session, step_job_id, JobStatus.FAILED, message, settings, code=code)
        if parent is not None:
            _finish_parent(session, parent, JobStatus.FAILED, message, settings, code=code)
        if asset is None or asset.pipeline_job_id != ref.pipeline_job_id:
            return
        asset.status = AssetStatus.FAILED
        asset.error_code, asset.error_message = code, message
        content._publish(session, "video_asset", asset)
        _email(session, asset, "video_failed", settings, error_code=code, error_message=message)


def _cancelled(ref: AssetRef, step_job_id: uuid.UUID, folder: Path, settings: Settings) -> None:
    with session_scope(settings) as session:
        parent = _locked(session, Job, ref.pipeline_job_id)
        asset = _locked(session, VideoAsset, ref.id)
        _end_step(session, step_job_id, JobStatus.CANCELLED, "cancelled while running", settings)
        if parent is not None:
            _finish_parent(session, parent, JobStatus.CANCELLED, "cancelled", settings)
        if asset is not None and asset.status == AssetStatus.PROCESSING:
            content.mark_cancelled(session, asset)
    shutil.rmtree(folder, ignore_errors=True)


def _email(
    session: Session, asset: VideoAsset, template: str, settings: Settings, **extra: Any
) -> None:
    owner = session.get(User, asset.owner_id)
    if owner is None or not owner.email:
        return
    lesson = session.get(Lesson, asset.lesson_id) if asset.lesson_id else None
    course = session.get(Course, asset.course_id) if asset.course_id else None
    context: dict[str, Any] = {
        "name": owner.name,
        "lesson_title": lesson.title if lesson else asset.title,
        "course_title": course.title if course else "your library",
        "video_title": asset.title,
        **extra,
    }
    context["lesson_url"] = (
        f"{settings.links_base}/courses/{lesson.course_id}/lessons/{lesson.id}"
        if lesson
        else settings.links_base
    )
    notify(
        session,
        user_id=owner.id,
        type="COURSE_UPDATE",
        title=f'Your video "{asset.title}" '
        + ("is ready" if template == "video_ready" else "failed"),
        key=f"{template}:{asset.id}:{asset.pipeline_job_id}",
        link=context["lesson_url"],
        data={"assetId": str(asset.id), "courseId": str(asset.course_id or "")},
        email_template=template,
        email_context=context,
    )


# --- the steps ----------------------------------------------------------------------------


def _source(ref: AssetRef, folder: Path, storage: Storage) -> Path:
    """The uploaded source in the scratch folder, fetched from storage unless already there."""
    path = folder / ("source" + Path(ref.source_key).suffix)
    info = storage.stat(ref.source_key)
    if info is None:
        raise PermanentJobError("the uploaded file is missing from storage", code="UPLOAD_MISSING")
    if path.is_file() and path.stat().st_size == info.size:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    storage.download(ref.source_key, partial)
    partial.replace(path)
    return path


def validate(ref: AssetRef, job: JobContext, folder: Path, settings: Settings) -> dict[str, Any]:
    job.progress(0.05, "fetching the upload", force=True)
    src = _source(ref, folder, get_storage(settings))
    job.progress.check()
    job.progress(0.3, "probing", force=True)
    info = media.validate(
        src,
        min_duration=settings.video_min_seconds,
        max_duration=settings.video_max_seconds,
        max_width=settings.video_max_width,
        max_height=settings.video_max_height,
        name=ref.file_name or None,
    )
    with session_scope(settings) as session:
        asset = session.get(VideoAsset, ref.id)
        if asset is not None:
            asset.duration_seconds, asset.width, asset.height = (
                info.duration,
                info.width,
                info.height,
            )
            asset.size_bytes = src.stat().st_size
    return {
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "video_codec": info.video_codec,
        "has_audio": info.has_audio,
    }


def transcode(ref: AssetRef, job: JobContext, folder: Path, settings: Settings) -> dict[str, Any]:
    storage = get_storage(settings)
    src = _source(ref, folder, storage)
    info = media.probe(src, name=ref.file_name or None)
    rungs = media.plan_ladder(info.width, info.height)
    out = folder / "stream"
    shutil.rmtree(out, ignore_errors=True)
    with metrics.transcoding(info.duration):  # media seconds per ffmpeg CPU second
        result = media.transcode_ladder(
            src,
            out,
            rungs,
            segment_seconds=settings.media_segment_seconds,
            preset=settings.media_preset,
            on_progress=lambda fraction, message: job.progress(fraction * 0.9, message, force=True),
            should_cancel=job.progress.cancel_requested,
            source=info,
        )
    renditions = [
        {
            "name": r.name,
            "kind": r.kind,
            "width": r.width,
            "height": r.height,
            "bitrate": r.bitrate,
            "peak_bitrate": r.peak_bitrate,
            "codecs": r.codecs,
            "size_bytes": r.size_bytes,
            "playlist": r.playlist.name,
            "segments": len(r.files) - 1,
        }
        for r in result.renditions
    ]
    write_single_rendition_manifests(out, [r for r in renditions if r["kind"] == "video"])
    job.progress.check()
    job.progress(0.92, "storing renditions", force=True)
    prefix = video_stream_prefix(ref.id, ref.version)
    storage.delete_prefix(prefix)  # a re-run replaces, never mixes with, an earlier ladder
    keys = storage.put_tree(prefix, out)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "renditions": renditions,
        "duration": result.duration,
        "segment_seconds": result.segment_seconds,
        "master_key": prefix + result.master.name,
        "manifest_key": prefix + result.mpd.name,
        "files": len(keys),
    }


def write_single_rendition_manifests(out: Path, videos: list[dict[str, Any]]) -> None:
    """`master-720p.m3u8` and `manifest-720p.mpd`: one video rendition (plus the audio)."""
    master = (out / "master.m3u8").read_text().splitlines()
    header = [
        line for line in master if line.startswith("#") and not line.startswith("#EXT-X-STREAM-INF")
    ]
    for index, rendition in enumerate(videos):
        lines = list(header)
        for i, line in enumerate(master):
            if (
                line.startswith("#EXT-X-STREAM-INF")
                and i + 1 < len(master)
                and master[i + 1] == rendition["playlist"]
            ):
                lines += [line, master[i + 1]]
        (out / f"master-{rendition['name']}.m3u8").write_text("\n".join(lines) + "\n")

        ET.register_namespace("", _MPD_NS)
        tree = ET.parse(out / "manifest.mpd")
        for aset in tree.getroot().iter(f"{{{_MPD_NS}}}AdaptationSet"):
            reps = aset.findall(f"{{{_MPD_NS}}}Representation")
            kind = (
                aset.get("contentType")
                or (reps[0].get("mimeType", "") if reps else "").split("/")[0]
            )
            if kind == "video":
                for position, rep in enumerate(reps):
                    if position != index:
                        aset.remove(rep)
        tree.write(
            out / f"manifest-{rendition['name']}.mpd", xml_declaration=True, encoding="utf-8"
        )


def images(ref: AssetRef, job: JobContext, folder: Path, settings: Settings) -> dict[str, Any]:
    storage = get_storage(settings)
    src = _source(ref, folder, storage)
    info = media.probe(src, name=ref.file_name or None)
    out = folder / "images"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    job.progress(0.05, "poster frame", force=True)
    # The poster is shown large (up to 1920 px): it comes from the source itself.
    poster = media.poster_frame(src, out / "poster.jpg", source=info)
    thumbs = media.thumbnails(poster, out, stem="thumb")
    job.progress.check()
    # Storyboard tiles (160 px) and the preview (<= 640 px) are small: decoding the
    # full-resolution source again for them was most of this step's time, so they come
    # from the smallest transcoded rung at least as wide as the preview (the source
    # itself when there is none). Their timing still follows the source (`source=info`).
    job.progress(0.2, "fetching a small rendition", force=True)
    small, small_name = _small_rendition(
        ref, folder, storage, settings, min_width=min(MAX_PREVIEW_WIDTH, info.width)
    )
    frames = small or src
    job.progress.check()
    job.progress(0.3, "storyboard", force=True)
    board = media.storyboard(frames, out, source=info)
    job.progress.check()
    job.progress(0.6, "animated preview", force=True)
    preview = media.animated_preview(frames, out / "preview.mp4", source=info)
    job.progress.check()
    if small is not None:
        small.unlink(missing_ok=True)
    job.progress(0.85, "storing images", force=True)
    prefix = video_images_prefix(ref.id, ref.version)
    storage.delete_prefix(prefix)
    storage.put_tree(prefix, out)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "poster_key": prefix + poster.name,
        "thumbnail_keys": [prefix + p.name for p in thumbs],
        "storyboard_key": prefix + board.vtt.name,
        "sprite_keys": [prefix + p.name for p in board.sprites],
        "preview_key": prefix + preview.name,
        "frames_from": small_name or "source",
    }


def _small_rendition(
    ref: AssetRef, folder: Path, storage: Storage, settings: Settings, *, min_width: int
) -> tuple[Path | None, str | None]:
    """The narrowest stored video rendition at least `min_width` wide, joined into one
    fragmented MP4 in the scratch folder (CMAF init segment + media segments concatenate
    into a valid file, which ffmpeg seeks in; its HLS demuxer drops frames with `-ss`/`-t`).
    (None, None) when the transcode step recorded no such rendition or it is gone."""
    with session_scope(settings) as session:
        kind = next(step.kind for step in STEPS if step.name == "transcode")
        transcoded = _latest_steps(session, ref.pipeline_job_id).get(kind)
        result = (
            transcoded.result
            if transcoded is not None and transcoded.status == JobStatus.SUCCEEDED
            else None
        )
    renditions = [
        r
        for r in (result or {}).get("renditions", [])
        if r.get("kind") == "video" and (r.get("width") or 0) >= min_width and r.get("playlist")
    ]
    if not renditions:
        return None, None
    chosen = min(renditions, key=lambda r: (r["width"], r["height"] or 0))
    prefix = video_stream_prefix(ref.id, ref.version)
    playlist = folder / f"images-{chosen['name']}.m3u8"
    joined = folder / f"images-{chosen['name']}.mp4"
    partial = joined.with_name(joined.name + ".part")
    try:
        storage.download(prefix + chosen["playlist"], playlist)
        entries = read_media_playlist(playlist)
        if not entries.ended or not entries.init or not entries.segments:
            return None, None
        with partial.open("wb") as handle:
            for name in [entries.init, *(uri for uri, _ in entries.segments)]:
                handle.write(storage.read_bytes(prefix + name))
    except FileNotFoundError:  # removed meanwhile (e.g. a re-run of transcode): use the source
        partial.unlink(missing_ok=True)
        return None, None
    finally:
        playlist.unlink(missing_ok=True)
    partial.replace(joined)
    return joined, chosen["name"]


def finalize(ref: AssetRef, job: JobContext, folder: Path, settings: Settings) -> dict[str, Any]:
    storage = get_storage(settings)
    with session_scope(settings) as session:
        parent = _locked(session, Job, ref.pipeline_job_id)
        asset = _locked(session, VideoAsset, ref.id)
        if parent is None or asset is None or parent.status in TERMINAL or parent.cancel_requested:
            raise JobCancelled()
        latest = _latest_steps(session, parent.id)
        outputs: dict[str, dict] = {}
        for name in ("transcode", "images"):
            step = next(s for s in STEPS if s.name == name)
            found = latest.get(step.kind)
            if found is None or found.status != JobStatus.SUCCEEDED or not found.result:
                raise PermanentJobError(
                    f"the {name} step has no recorded output", code="OUTPUT_MISSING"
                )
            outputs[name] = found.result
        ladder, pictures = outputs["transcode"], outputs["images"]
        for key in (ladder["master_key"], ladder["manifest_key"], pictures["poster_key"]):
            if storage.stat(key) is None:
                raise PermanentJobError(f"stored output {key} is missing", code="OUTPUT_MISSING")
        asset.renditions = ladder["renditions"]
        asset.duration_seconds = ladder["duration"]
        asset.master_key, asset.manifest_key = ladder["master_key"], ladder["manifest_key"]
        asset.poster_key, asset.thumbnail_keys = pictures["poster_key"], pictures["thumbnail_keys"]
        asset.storyboard_key, asset.preview_key = (
            pictures["storyboard_key"],
            pictures["preview_key"],
        )
        asset.status, asset.error_code, asset.error_message = AssetStatus.READY, None, None
        asset.ready_at = utcnow()
        if asset.lesson_id is not None:
            lesson = session.get(Lesson, asset.lesson_id)
            if lesson is not None:  # the lesson plays this video from now on
                lesson.video_asset_id = asset.id
        content.follow_video_duration(session, asset)  # however each lesson attached it
        result = {
            "video_asset_id": str(asset.id),
            "renditions": [r["name"] for r in ladder["renditions"]],
            "duration": ladder["duration"],
        }
        _succeed_step(session, job.job_id, result, settings)
        _finish_parent(session, parent, JobStatus.SUCCEEDED, "ready", settings, result=result)
        content._publish(session, "video_asset", asset)
        _email(session, asset, "video_ready", settings)
    shutil.rmtree(folder, ignore_errors=True)  # scratch files; the outputs are in storage
    return result


_STEP_FUNCTIONS: dict[str, Callable[[AssetRef, JobContext, Path, Settings], dict[str, Any]]] = {
    "validate": validate,
    "transcode": transcode,
    "images": images,
    "finalize": finalize,
}
assert set(_STEP_FUNCTIONS) == {step.name for step in STEPS}
