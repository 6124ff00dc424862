"""A lesson's duration follows its video however it was attached, and so does progress.

An educator builds a course around videos already in the library (READY, attached with
`updateLesson`, not uploaded with `lessonId`); a student watches and completes it.
"""

from __future__ import annotations

import uuid

import pytest

from lms.content.models import AssetStatus, VideoAsset
from lms.db import session_scope
from lms.users.models import Role
from tests.courses.support import (
    COURSE,
    LONG_DESCRIPTION,
    PUBLISH,
    add_lesson,
    add_module,
    create_course,
    png_data_url,
    verified,
    wait_for_job,
)
from tests.enrollments.support import complete, enroll, report
from tests.support import JobWatcher, start_worker

UPDATE_LESSON = """mutation($id: ID!, $input: UpdateLessonInput!) {
  updateLesson(id: $id, input: $input) { id videoAssetId durationSeconds } }"""


@pytest.fixture(scope="module")
def worker():
    process = start_worker("default")  # resizes the cover publishing needs
    yield process
    process.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:  # listening before any job starts
        yield watching


def library_video(owner_id, seconds: float, status: AssetStatus = AssetStatus.READY) -> str:
    """A video the educator processed earlier (the ingest pipeline has its own tests)."""
    asset_id = uuid.uuid4()
    with session_scope() as session:
        session.add(
            VideoAsset(
                id=asset_id,
                owner_id=owner_id,
                title="Earlier upload",
                original_filename="intro.mp4",
                content_type="video/mp4",
                source_key=f"videos/{asset_id}/source",
                status=status,
                duration_seconds=seconds if status == AssetStatus.READY else None,
            )
        )
    return str(asset_id)


def total_duration(api, token, course_id) -> int:
    return api.data(COURSE, {"id": course_id}, token)["course"]["totalDurationSeconds"]


def test_attached_video_sets_the_duration_and_a_student_can_complete(
    api, worker, watcher, educator
):
    user, token = educator
    course = create_course(
        api,
        token,
        description=LONG_DESCRIPTION,
        category="Programming",
        coverImageDataUrl=png_data_url(),
    )
    module = add_module(api, token, course["id"])
    lesson = add_lesson(api, token, module["id"], "Intro", type="VIDEO", content=None)
    assert lesson["durationSeconds"] == 0

    video = library_video(user.id, 20.0)
    attached = api.data(
        UPDATE_LESSON, {"id": lesson["id"], "input": {"videoAssetId": video}}, token
    )
    assert attached["updateLesson"] == {
        "id": lesson["id"],
        "videoAssetId": video,
        "durationSeconds": 20,
    }
    assert total_duration(api, token, course["id"]) == 20

    assert wait_for_job(watcher, course["id"], "courses.resize_cover")["status"] == "SUCCEEDED"
    assert api.data(PUBLISH, {"id": course["id"]}, token)["publishCourse"]["status"] == "PUBLISHED"

    _, student_token = verified(Role.STUDENT)
    enrollment = enroll(api, student_token, course["id"])
    progress = report(api, student_token, enrollment["id"], lesson["id"], positionSeconds=19)
    assert progress["lessonProgress"]["percentWatched"] == 95.0
    done = complete(api, student_token, enrollment["id"], lesson["id"])
    assert done["lessonProgress"]["completed"] is True
    assert done["enrollment"]["status"] == "COMPLETED"


def test_replacing_or_removing_the_video_updates_the_duration(api, educator):
    user, token = educator
    course = create_course(api, token)
    module = add_module(api, token, course["id"])
    lesson = add_lesson(api, token, module["id"], "Talk", type="VIDEO", content=None)

    def attach(video_id):
        variables = {"id": lesson["id"], "input": {"videoAssetId": video_id}}
        return api.data(UPDATE_LESSON, variables, token)["updateLesson"]["durationSeconds"]

    assert attach(library_video(user.id, 20.4)) == 20
    variables = {"id": lesson["id"], "input": {"durationSeconds": 999}}
    updated = api.data(UPDATE_LESSON, variables, token)["updateLesson"]
    assert updated["durationSeconds"] == 20  # the video's own length wins
    assert attach(library_video(user.id, 12.6)) == 13  # replaced
    assert total_duration(api, token, course["id"]) == 13
    # still processing: no length yet (the pipeline sets it when the video is READY)
    assert attach(library_video(user.id, 0, AssetStatus.PROCESSING)) == 0
    assert attach(None) == 0
    assert total_duration(api, token, course["id"]) == 0
