"""Who may upload, see, manage and stream content (no worker needed)."""

from __future__ import annotations

from sqlalchemy import update

from lms.db import session_scope
from lms.enrollments.models import Enrollment, EnrollmentStatus
from lms.users.models import Role
from tests.content.conftest import UPLOAD, make_course
from tests.support import create_user

STREAM = "query($l: ID!) { generateStreamingUrl(lessonId: $l) { url } }"
ASSET = "query($id: ID!) { videoAsset(id: $id) { id status } }"


def _upload(api, token, lesson_id, **overrides):
    variables = {
        "input": {
            "lessonId": str(lesson_id),
            "fileName": "lecture.mp4",
            "contentType": "video/mp4",
            "sizeBytes": 1000,
            **overrides,
        }
    }
    return api.execute(UPLOAD, variables, token)


def test_student_not_enrolled_cannot_stream(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    _, student_token = create_user(Role.STUDENT)
    body = api.execute(STREAM, {"l": str(lesson_id)}, student_token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert "enroll" in body["errors"][0]["message"]
    assert api.error_codes(STREAM, {"l": str(lesson_id)}) == ["UNAUTHENTICATED"]


def test_enrolled_students_may_stream_until_they_withdraw(api):
    owner, _ = create_user(Role.EDUCATOR)
    course_id, lesson_id = make_course(owner.id)
    student, token = create_user(Role.STUDENT)
    with session_scope() as session:
        session.add(Enrollment(student_id=student.id, course_id=course_id))

    def enrolled_as(status: EnrollmentStatus) -> list[str]:
        with session_scope() as session:
            query = update(Enrollment).where(Enrollment.student_id == student.id)
            session.execute(query.values(status=status))
        return api.error_codes(STREAM, {"l": str(lesson_id)}, token)

    # Past the access check, the lesson simply has no video yet.
    assert enrolled_as(EnrollmentStatus.ACTIVE) == ["VIDEO_NOT_FOUND"]
    assert enrolled_as(EnrollmentStatus.COMPLETED) == ["VIDEO_NOT_FOUND"]
    assert enrolled_as(EnrollmentStatus.DROPPED) == ["FORBIDDEN"]
    reason = api.execute(STREAM, {"l": str(lesson_id)}, token)["errors"][0]["extensions"]
    assert reason["reason"] == "NOT_ENROLLED"


def test_instructor_of_a_lesson_without_video_gets_not_found(api):
    owner, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    assert api.error_codes(STREAM, {"l": str(lesson_id)}, token) == ["VIDEO_NOT_FOUND"]


def test_other_educator_cannot_upload_see_or_delete(api):
    owner, owner_token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    asset_id = _upload(api, owner_token, lesson_id)["data"]["generateUploadUrl"]["videoAsset"]["id"]
    assert api.data(ASSET, {"id": asset_id}, owner_token)["videoAsset"]["status"] == "UPLOADING"

    _, other_token = create_user(Role.EDUCATOR)
    assert [e["extensions"]["code"] for e in _upload(api, other_token, lesson_id)["errors"]] == [
        "FORBIDDEN"
    ]
    assert api.error_codes(ASSET, {"id": asset_id}, other_token) == ["FORBIDDEN"]
    assert api.error_codes(
        "query($id: ID!) { videoProcessingStatus(videoAssetId: $id) { status } }",
        {"id": asset_id},
        other_token,
    ) == ["FORBIDDEN"]
    assert api.error_codes(
        "mutation($id: ID!) { deleteVideoAsset(id: $id) }", {"id": asset_id}, other_token
    ) == ["FORBIDDEN"]
    assert api.error_codes(STREAM, {"l": str(lesson_id)}, other_token) == ["FORBIDDEN"]
    listed = api.data(
        "query { videoAssets { totalCount edges { node { id } } } }", token=other_token
    )
    assert asset_id not in [e["node"]["id"] for e in listed["videoAssets"]["edges"]]


def test_students_cannot_upload_or_list(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    _, student_token = create_user(Role.STUDENT)
    assert [e["extensions"]["code"] for e in _upload(api, student_token, lesson_id)["errors"]] == [
        "FORBIDDEN"
    ]
    assert api.error_codes("query { videoAssets { totalCount } }", token=student_token) == [
        "FORBIDDEN"
    ]


def test_uploads_are_checked_for_type_and_size(api):
    owner, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    wrong = _upload(api, token, lesson_id, fileName="page.html", contentType="text/html")
    assert wrong["errors"][0]["extensions"]["code"] == "UNSUPPORTED_CONTENT_TYPE"
    huge = _upload(api, token, lesson_id, sizeBytes=10 * 1024**4)
    assert huge["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
    assert huge["errors"][0]["extensions"]["maxBytes"] > 0


def test_my_video_assets_pages_with_cursors(api):
    owner, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    ids = [
        _upload(api, token, lesson_id, fileName=f"part-{i}.mp4")["data"]["generateUploadUrl"][
            "videoAsset"
        ]["id"]
        for i in range(3)
    ]
    query = """query($p: PaginationInput) { myVideoAssets(pagination: $p) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id title } } } }"""
    first = api.data(query, {"p": {"first": 2}}, token)["myVideoAssets"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = api.data(query, {"p": {"first": 2, "after": first["pageInfo"]["endCursor"]}}, token)[
        "myVideoAssets"
    ]
    seen = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert seen == list(reversed(ids)) and not rest["pageInfo"]["hasNextPage"]
