"""Video ingest: validate → transcode → images → finalize, on the pipeline engine.

The declaration (steps, kinds, weights, attempt limits, resume at the failed step) is
`lms.content.steps.VIDEO_INGEST`; this module binds each step to its code and gives the
engine the content domain's hooks. The engine (`pipelines/engine.py`) creates the child
jobs, advances, fails, cancels and resumes; the steps here only do the work and return
their result. Steps are idempotent: they fetch the source from storage when their scratch
folder lacks it (a step may run on another worker), write outputs under deterministic keys
(`videos/{asset}/{version}/stream/…`, `…/images/…`) after removing what an earlier run left
there, so a re-run replaces rather than duplicates.

On a permanent failure the asset shows the step's stable code (`INVALID_MEDIA`,
`NO_VIDEO_STREAM`, …) and the uploader gets an email; a cancel kills ffmpeg, marks the
pipeline CANCELLED and removes the scratch folder. Every step hand-over and every progress
tick reaches `videoProcessingUpdated` subscribers.
"""

from __future__ import annotations

import functools
import shutil
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import media
from lms.config import Settings
from lms.content import service as content
from lms.content.errors import ContentCode
from lms.content.models import AssetStatus, VideoAsset
from lms.content.steps import VIDEO_INGEST
from lms.courses.models import Course, Lesson
from lms.db import session_scope
from lms.errors import PermanentJobError, TransientJobError
from lms.events.bus import publish_event
from lms.events.topics import VIDEO_PROCESSING
from lms.jobs.lifecycle import JobCancelled
from lms.jobs.models import Job, JobStatus
from lms.notifications.service import notify
from lms.observability import metrics, tracing
from lms.storage import Storage, get_storage, video_images_prefix, video_stream_prefix
from lms.users.models import User
from media.errors import CANCELLED as MEDIA_CANCELLED
from media.errors import MediaError
from media.manifests import read_media_playlist
from media.preview import MAX_PREVIEW_WIDTH
from pipelines import engine
from pipelines.engine import StepRun

_MPD_NS = "urn:mpeg:dash:schema:mpd:2011"


@dataclass(frozen=True)
class AssetRef:
    """What a step needs to know about its asset, read once in a short transaction."""

    id: uuid.UUID
    version: int
    source_key: str
    file_name: str = ""  # as uploaded: what messages to the educator call the file


def work_dir(settings: Settings, asset_id: uuid.UUID, version: int) -> Path:
    root = settings.media_work_dir or settings.var_dir / "work"
    return Path(root) / f"video-{asset_id}-{version}"


def _folder(run: StepRun) -> Path:
    return work_dir(run.settings, run.subject.id, run.subject.version)


# --- the content domain's hooks (inside the engine's transactions) ---------------------------


def _asset(session: Session, parent: Job, lock: bool) -> VideoAsset | None:
    """The pipeline's asset, while it still belongs to this pipeline."""
    query = select(VideoAsset).where(
        VideoAsset.id == uuid.UUID(parent.payload[VIDEO_INGEST.subject_key]),
        VideoAsset.pipeline_job_id == parent.id,
    )
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def _snapshot(asset: VideoAsset) -> AssetRef:
    return AssetRef(asset.id, asset.version, asset.source_key, asset.original_filename)


def _ready(session: Session, asset: VideoAsset, run: StepRun, result: dict[str, Any]) -> None:
    content.mark_ready(session, asset, run.results["transcode"], run.results["images"])
    _email(session, asset, "video_ready", run.settings)


def _failed(session: Session, asset: VideoAsset, run: StepRun, code: str, message: str) -> None:
    """The asset shows the code, the uploader gets an email."""
    content.mark_failed(session, asset, code, message)
    _email(session, asset, "video_failed", run.settings, error_code=code, error_message=message)


def _cancelled(session: Session, asset: VideoAsset) -> None:
    if asset.status == AssetStatus.PROCESSING:
        content.mark_cancelled(session, asset)


def _progress(run: StepRun, overall: float, message: str | None) -> None:
    """A running step's tick for `videoProcessingUpdated` (the job event is keyed by the
    step's job id, which the uploader does not know)."""
    update = content.processing_update(
        video_asset_id=run.subject.id,
        status=AssetStatus.PROCESSING.value,
        step=run.step.name,
        step_status=JobStatus.RUNNING.value,
        progress=overall,
        message=message,
        job_id=run.pipeline_job_id,
    )
    publish_event(VIDEO_PROCESSING, update, run.settings)


def _remove_scratch(run: StepRun) -> None:
    shutil.rmtree(_folder(run), ignore_errors=True)  # the outputs are in storage


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


def _media_work(work: Callable[[StepRun], dict[str, Any]]) -> Callable[[StepRun], dict[str, Any]]:
    """The media library's errors as the engine reads them: a cancelled ffmpeg is a cancel,
    a permanent error fails the pipeline with its code, any other is retried."""

    @functools.wraps(work)
    def run(step: StepRun) -> dict[str, Any]:
        try:
            return work(step)
        except MediaError as error:
            if error.code == MEDIA_CANCELLED:
                raise JobCancelled() from error
            if error.permanent:
                raise PermanentJobError(error.message, code=error.code) from error
            raise TransientJobError(error.message, code=error.code) from error

    return run


# --- the steps ----------------------------------------------------------------------------


def _tool(what: str):
    """A span for one media tool run (ffprobe or ffmpeg), under the step's job span."""
    return tracing.span(f"ffmpeg {what}")


def _source(ref: AssetRef, folder: Path, storage: Storage) -> Path:
    """The uploaded source in the scratch folder, fetched from storage unless already there."""
    path = folder / ("source" + Path(ref.source_key).suffix)
    info = storage.stat(ref.source_key)
    if info is None:
        raise PermanentJobError(
            "the uploaded file is missing from storage", code=ContentCode.UPLOAD_MISSING
        )
    if path.is_file() and path.stat().st_size == info.size:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    storage.download(ref.source_key, partial)
    partial.replace(path)
    return path


@_media_work
def validate(run: StepRun) -> dict[str, Any]:
    ref, job, folder, settings = run.subject, run.job, _folder(run), run.settings
    job.progress(0.05, "fetching the upload", force=True)
    src = _source(ref, folder, get_storage(settings))
    job.progress.check()
    job.progress(0.3, "probing", force=True)
    with _tool("validate"):
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


@_media_work
def transcode(run: StepRun) -> dict[str, Any]:
    ref, job, folder, settings = run.subject, run.job, _folder(run), run.settings
    storage = get_storage(settings)
    src = _source(ref, folder, storage)
    with _tool("probe"):
        info = media.probe(src, name=ref.file_name or None)
    rungs = media.plan_ladder(info.width, info.height)
    out = folder / "stream"
    shutil.rmtree(out, ignore_errors=True)
    # Media seconds per ffmpeg CPU second, and the ladder's span.
    with metrics.transcoding(info.duration), _tool("transcode"):
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


@_media_work
def images(run: StepRun) -> dict[str, Any]:
    ref, job, folder, settings = run.subject, run.job, _folder(run), run.settings
    storage = get_storage(settings)
    src = _source(ref, folder, storage)
    with _tool("probe"):
        info = media.probe(src, name=ref.file_name or None)
    out = folder / "images"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    job.progress(0.05, "poster frame", force=True)
    # The poster is shown large (up to 1920 px): it comes from the source itself.
    with _tool("poster"):
        poster = media.poster_frame(src, out / "poster.jpg", source=info)
    thumbs = media.thumbnails(poster, out, stem="thumb")
    job.progress.check()
    # Storyboard tiles (160 px) and the preview (<= 640 px) are small: decoding the
    # full-resolution source again for them was most of this step's time, so they come
    # from the smallest transcoded rung at least as wide as the preview (the source
    # itself when there is none). Their timing still follows the source (`source=info`).
    job.progress(0.2, "fetching a small rendition", force=True)
    small, small_name = _small_rendition(
        ref,
        run.results.get("transcode"),
        folder,
        storage,
        min_width=min(MAX_PREVIEW_WIDTH, info.width),
    )
    frames = small or src
    job.progress.check()
    job.progress(0.3, "storyboard", force=True)
    with _tool("storyboard"):
        board = media.storyboard(frames, out, source=info)
    job.progress.check()
    job.progress(0.6, "animated preview", force=True)
    with _tool("preview"):
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
    ref: AssetRef,
    result: dict[str, Any] | None,
    folder: Path,
    storage: Storage,
    *,
    min_width: int,
) -> tuple[Path | None, str | None]:
    """The narrowest stored video rendition at least `min_width` wide, joined into one
    fragmented MP4 in the scratch folder (CMAF init segment + media segments concatenate
    into a valid file, which ffmpeg seeks in; its HLS demuxer drops frames with `-ss`/`-t`).
    (None, None) when the transcode step (`result`) recorded no such rendition or it is gone."""
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


def finalize(run: StepRun) -> dict[str, Any]:
    """Check that the earlier steps' outputs are stored; the engine then, in one
    transaction, makes the asset READY (`_ready`) and ends the pipeline."""
    storage = get_storage(run.settings)
    for name in ("transcode", "images"):
        if not run.results.get(name):
            raise PermanentJobError(
                f"the {name} step has no recorded output", code="OUTPUT_MISSING"
            )
    ladder, pictures = run.results["transcode"], run.results["images"]
    for key in (ladder["master_key"], ladder["manifest_key"], pictures["poster_key"]):
        if storage.stat(key) is None:
            raise PermanentJobError(f"stored output {key} is missing", code="OUTPUT_MISSING")
    return {
        "video_asset_id": str(run.subject.id),
        "renditions": [r["name"] for r in ladder["renditions"]],
        "duration": ladder["duration"],
    }


PIPELINE = engine.bind(
    VIDEO_INGEST,
    {"validate": validate, "transcode": transcode, "images": images, "finalize": finalize},
    lock=_asset,
    snapshot=_snapshot,
    gone=("VIDEO_ASSET_NOT_FOUND", "the video asset was deleted"),
    on_change=lambda session, asset: content.publish_processing(session, asset),
    on_success=_ready,
    on_failure=_failed,
    on_cancel=_cancelled,
    on_progress=_progress,
    cleanup=_remove_scratch,
    done_message="ready",
)
