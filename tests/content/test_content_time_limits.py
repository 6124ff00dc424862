"""A video ingest step that runs past its time limit ends FAILED with STEP_TIME_LIMIT, its
ffmpeg killed, and the pipeline with it; nothing retries it. A real `media` worker runs
the pipeline with the transcode limit made tiny by its settings."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from lms.content.models import AssetStatus, VideoAsset
from lms.db import session_scope
from lms.jobs.models import Job, JobStatus
from tests.content.conftest import Watcher, clip, make_course, upload_video
from tests.content.test_content_pipeline import _ffmpeg_running_for
from tests.support import start_worker

# Transcoding may take video_max_seconds × factor = 100 × 0.08 = 8 s: enough for ffmpeg to
# start and report progress on a loaded machine, far too little for a 40 s 720p ladder.
TINY_TRANSCODE_LIMIT = {"LMS_VIDEO_MAX_SECONDS": "100", "LMS_VIDEO_TRANSCODE_TIME_FACTOR": "0.08"}


@pytest.fixture(scope="module")
def hasty_worker():
    worker = start_worker("media,email", env=TINY_TRANSCODE_LIMIT, concurrency=2)
    yield worker
    worker.stop()


def test_transcode_past_its_limit_fails_with_its_code_and_ffmpeg_dies(
    content_api, educator, hasty_worker, tmp_path
):
    user, token = educator
    _, lesson_id = make_course(user.id)
    video = clip(tmp_path / "long-lecture.mp4", size="1280x720", seconds=40)
    with Watcher() as watcher:
        asset = upload_video(content_api, token, lesson_id, video)
        ended = watcher.wait(asset["processingJobId"], ("SUCCEEDED", "FAILED"), timeout=180)
        transcoding = [
            e
            for events in list(watcher.events.values())
            for e in events
            if e["kind"] == "media.transcode" and e["status"] == "RUNNING" and e["progress"]
        ]
    assert (ended["status"], ended["errorCode"]) == ("FAILED", "STEP_TIME_LIMIT")
    assert transcoding, "ffmpeg never reported progress: the limit struck before it ran"

    with session_scope() as session:
        shown = session.get(VideoAsset, uuid.UUID(asset["id"]))
        steps = {
            job.kind: job
            for job in session.scalars(
                select(Job).where(Job.parent_id == uuid.UUID(asset["processingJobId"]))
            )
        }
    assert (shown.status, shown.error_code) == (AssetStatus.FAILED, "STEP_TIME_LIMIT")
    transcode = steps["media.transcode"]
    assert (transcode.status, transcode.error_code) == (JobStatus.FAILED, "STEP_TIME_LIMIT")
    assert transcode.attempts == 1  # a time limit is not retried
    assert "8 s" in transcode.error_message
    assert "media.images" not in steps  # the pipeline stopped there
    assert not _ffmpeg_running_for(asset["id"])
    assert hasty_worker.popen.poll() is None  # the soft limit left the worker standing
