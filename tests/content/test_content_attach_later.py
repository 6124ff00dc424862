"""A video attached to a lesson while it is still processing gives the lesson its length
once it is READY (the lesson was not named at upload); deleting it leaves nothing to play."""

from __future__ import annotations

from tests.content.conftest import COMPLETE, UPLOAD, make_course, put

UPDATE_LESSON = """mutation($id: ID!, $input: UpdateLessonInput!) {
  updateLesson(id: $id, input: $input) { id videoAssetId durationSeconds } }"""
LESSON_DURATION = """query($id: ID!) { course(id: $id) { totalDurationSeconds
  modules { lessons { id durationSeconds } } } }"""


def test_duration_arrives_when_an_attached_video_becomes_ready(
    media_worker, content_api, educator, media_files, watcher
):
    user, token = educator
    course_id, lesson_id = make_course(user.id)
    clip = media_files["clip_360"]  # 4 s
    ticket = content_api.data(
        UPLOAD,
        {
            "input": {
                "courseId": str(course_id),  # a library upload: no lesson named
                "fileName": clip.name,
                "contentType": "video/mp4",
                "sizeBytes": clip.stat().st_size,
            }
        },
        token,
    )["generateUploadUrl"]
    put(ticket, clip.read_bytes())
    asset = content_api.data(COMPLETE, {"key": ticket["fileKey"]}, token)["completeUpload"][
        "videoAsset"
    ]
    attached = content_api.data(
        UPDATE_LESSON, {"id": str(lesson_id), "input": {"videoAssetId": asset["id"]}}, token
    )["updateLesson"]
    # 0 while processing, the usual case; 4 had the worker already finished (then the
    # attach itself set it): either way the lesson never shows a stale length
    assert attached["durationSeconds"] in (0, 4)

    assert watcher.wait(asset["processingJobId"], timeout=90)["status"] == "SUCCEEDED"
    course = content_api.data(LESSON_DURATION, {"id": str(course_id)}, token)["course"]
    [lesson] = course["modules"][0]["lessons"]
    assert lesson["durationSeconds"] == 4 and course["totalDurationSeconds"] == 4

    delete = "mutation($id: ID!) { deleteVideoAsset(id: $id) }"
    assert content_api.data(delete, {"id": asset["id"]}, token) == {"deleteVideoAsset": True}
    course = content_api.data(LESSON_DURATION, {"id": str(course_id)}, token)["course"]
    assert course["totalDurationSeconds"] == 0
