"""A media worker SIGKILLed in the middle of a transcode: the video still becomes READY,
each pipeline step ends once, and the uploader hears of it once.

The killed attempt holds its lease until it expires; `lms beat`'s reaper queues the step
again and a second worker runs it from the start (the step replaces any partial ladder).
Outcomes are counted from the database.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from lms.content.models import AssetStatus, VideoAsset
from lms.db import session_scope
from lms.jobs.models import Job, JobEvent, JobStatus
from lms.notifications.models import Notification
from lms.users.models import Role
from tests.content.conftest import Watcher, clip, make_course, upload_video
from tests.faults.support import SHORT_LEASES, record, wait_until
from tests.support import (
    LMS,
    GraphQLClient,
    Process,
    create_user,
    free_port,
    start_beat,
    start_worker,
)

TRANSCODE = "media.transcode"


@pytest.fixture(scope="module")
def api():
    """An API whose public URL is its own address (the upload URL points back at it)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = Process([*LMS, "serve", "--port", str(port)], {"LMS_PUBLIC_URL": base_url})
    process.wait_for("Running on")
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


def asset_status(asset_id: uuid.UUID) -> AssetStatus:
    with session_scope() as session:
        return session.get(VideoAsset, asset_id).status


def test_killed_mid_transcode_the_video_is_ready_once(api, tmp_path):
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    # Long enough that ffmpeg is surely still running when its first progress tick arrives.
    video = clip(tmp_path / "lecture.mp4", size="1280x720", seconds=20)
    beat = start_beat(SHORT_LEASES)
    first = start_worker("media,email", env=SHORT_LEASES, concurrency=2)
    try:
        with Watcher() as watcher:
            asset = upload_video(api, token, lesson_id, video)
            pipeline_id = uuid.UUID(asset["processingJobId"])
            watcher.first(
                lambda e: e["kind"] == TRANSCODE and e["status"] == "RUNNING" and e["progress"],
                timeout=120,
            )
        first.kill()  # main process and pool, mid-ffmpeg: no ack, no final write
        second = start_worker("media,email", env=SHORT_LEASES, concurrency=2)
        try:
            asset_id = uuid.UUID(asset["id"])
            wait_until(lambda: asset_status(asset_id) == AssetStatus.READY, 240, "video READY")
        finally:
            second.stop()
    finally:
        beat.stop()

    with session_scope() as session:
        steps = session.scalars(select(Job).where(Job.parent_id == pipeline_id)).all()
        pipeline = session.get(Job, pipeline_id)
        succeeded = dict(
            session.execute(
                select(JobEvent.job_id, func.count())
                .where(
                    JobEvent.job_id.in_([pipeline_id, *(s.id for s in steps)]),
                    JobEvent.status == JobStatus.SUCCEEDED,
                )
                .group_by(JobEvent.job_id)
            ).all()
        )
        told = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.data["assetId"].as_string() == asset["id"])
        )
    kinds = sorted(s.kind for s in steps)
    assert kinds == sorted(set(kinds)), "a step ran as two jobs"
    assert pipeline.status == JobStatus.SUCCEEDED and succeeded[pipeline_id] == 1
    assert all(s.status == JobStatus.SUCCEEDED and succeeded[s.id] == 1 for s in steps)
    transcode = next(s for s in steps if s.kind == TRANSCODE)
    assert transcode.attempts == 2  # the killed attempt, then the reaper's
    assert told == 1  # the uploader's "video ready", once
    record(
        "worker_sigkill_mid_transcode",
        steps=kinds,
        transcode_attempts=transcode.attempts,
        pipeline_succeeded_events=succeeded[pipeline_id],
        uploader_notifications=told,
    )
