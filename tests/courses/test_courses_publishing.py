"""Publication requirements, the status workflow, cover image jobs and deletion, with a worker."""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import update

from lms.config import get_settings
from lms.courses.models import Course
from lms.db import session_scope
from lms.users.models import Role
from tests.courses.support import (
    BY_SLUG,
    COURSE,
    DELETE,
    LONG_DESCRIPTION,
    PUBLISH,
    UPDATE,
    VALIDATE,
    add_lesson,
    add_module,
    create_course,
    png_data_url,
    verified,
    wait_for_job,
)
from tests.support import GraphQLClient, JobWatcher, create_user, start_api, start_worker

CATALOG_IDS = (
    "query($f: CourseFilter) { courses(filter: $f, pagination: {first: 100}) { nodes { id } } }"
)


@pytest.fixture(scope="module")
def worker():
    process = start_worker("default")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:
        yield watching


def storage(key: str) -> Path:
    """Where local storage (the tests' default, `var/storage`) keeps an object or folder."""
    return get_settings().var_dir / "storage" / key


def complete_course(api, watcher, token: str, **fields) -> dict:
    """A draft that meets every requirement, its cover already resized by the worker."""
    fields.setdefault("title", f"Complete {uuid.uuid4().hex[:8]}")
    course = create_course(
        api,
        token,
        description=LONG_DESCRIPTION,
        category="Programming",
        coverImageDataUrl=png_data_url(),
        **fields,
    )
    module = add_module(api, token, course["id"], "Getting started")
    add_lesson(api, token, module["id"], "Welcome", content="<p>Welcome aboard.</p>")
    assert wait_for_job(watcher, course["id"], "courses.resize_cover")["status"] == "SUCCEEDED"
    return course


def requirement_codes(requirements: list[dict]) -> set[str]:
    return {requirement["code"] for requirement in requirements}


def test_an_incomplete_course_gets_every_unmet_requirement_at_once(api, educator):
    token = educator[1]
    course = create_course(api, token, description="<p>Short</p>")
    check = api.data(VALIDATE, {"id": course["id"]}, token)["validateCoursePublication"]
    assert check["isValid"] is False
    assert requirement_codes(check["unmetRequirements"]) == {
        "DESCRIPTION_TOO_SHORT",
        "CATEGORY_MISSING",
        "COVER_MISSING",
        "NO_MODULES",
    }
    assert all(requirement["message"] for requirement in check["unmetRequirements"])

    empty = add_module(api, token, course["id"], "Empty")
    full = add_module(api, token, course["id"], "Full")
    blank = add_lesson(api, token, full["id"], "Blank", content="<p> </p>")
    no_video = add_lesson(api, token, full["id"], "Clip", type="VIDEO")
    pending_video = add_lesson(
        api, token, full["id"], "Talk", type="VIDEO", videoAssetId=str(uuid.uuid4())
    )
    check = api.data(VALIDATE, {"id": course["id"]}, token)["validateCoursePublication"]
    by_code = {(r["code"], r["moduleId"], r["lessonId"]) for r in check["unmetRequirements"]}
    assert ("MODULE_WITHOUT_LESSONS", empty["id"], None) in by_code
    assert ("LESSON_CONTENT_MISSING", full["id"], blank["id"]) in by_code
    assert ("VIDEO_MISSING", full["id"], no_video["id"]) in by_code
    assert ("VIDEO_NOT_READY", full["id"], pending_video["id"]) in by_code
    assert not any(code == "NO_MODULES" for code, _, _ in by_code)

    # publishCourse refuses with the very same list.
    body = api.execute(PUBLISH, {"id": course["id"]}, token)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "COURSE_NOT_PUBLISHABLE"
    assert requirement_codes(error["extensions"]["requirements"]) == requirement_codes(
        check["unmetRequirements"]
    )
    assert api.data(COURSE, {"id": course["id"]}, token)["course"]["status"] == "DRAFT"


def test_publishing_a_complete_course(api, worker, watcher, educator, other_educator):
    token = educator[1]
    course = complete_course(api, watcher, token)
    cover = api.data(COURSE, {"id": course["id"]}, token)["course"]["coverImage"]
    assert cover["status"] == "READY"
    assert {(v["width"], v["format"]) for v in cover["variants"]} == {
        (w, f)
        for w in (800, 640, 320)
        for f in ("webp", "jpeg")  # never upscaled past the 800 px source
    }
    for variant in cover["variants"]:
        # The link a page puts in <img src>: this API's public URL is not its test port.
        link = urlsplit(variant["url"])
        image = api.http.get(f"{link.path}?{link.query}")
        assert image.status_code == 200, image.text
        assert image.headers["content-type"] == f"image/{variant['format']}"
        with Image.open(io.BytesIO(image.content)) as picture:
            assert picture.size == (variant["width"], variant["height"])
    assert api.data(VALIDATE, {"id": course["id"]}, token)["validateCoursePublication"] == {
        "courseId": course["id"],
        "isValid": True,
        "unmetRequirements": [],
    }
    assert api.error_codes(PUBLISH, {"id": course["id"]}, other_educator[1]) == ["COURSE_NOT_FOUND"]

    published = api.data(PUBLISH, {"id": course["id"]}, token)["publishCourse"]
    assert published["status"] == "PUBLISHED" and published["publishedAt"]
    assert (
        api.data(PUBLISH, {"id": course["id"]}, token)["publishCourse"]["status"] == "PUBLISHED"
    )  # idempotent
    assert api.data(COURSE, {"id": course["id"]})["course"]["viewerCanEdit"] is False  # public now
    assert course["id"] in {
        n["id"]
        for n in api.data(CATALOG_IDS, {"f": {"category": "Programming"}})["courses"]["nodes"]
    }

    # After publishing the slug is stable: a new title keeps it...
    renamed = api.data(UPDATE, {"id": course["id"], "input": {"title": "Renamed course"}}, token)[
        "updateCourse"
    ]
    assert renamed["slug"] == course["slug"]
    # ...and an explicit new slug keeps the old one resolving.
    new_slug = f"fresh-{uuid.uuid4().hex[:8]}"
    api.data(UPDATE, {"id": course["id"], "input": {"slug": new_slug}}, token)
    for slug in (course["slug"], new_slug):
        assert api.data(BY_SLUG, {"slug": slug})["courseBySlug"] == {
            "id": course["id"],
            "slug": new_slug,
            "title": "Renamed course",
        }
    # A former slug stays reserved for its course.
    taken = {"input": {"title": "Copycat", "slug": course["slug"]}}
    assert api.error_codes(
        "mutation($input: CreateCourseInput!) { createCourse(input: $input) { id } }",
        taken,
        other_educator[1],
    ) == ["SLUG_TAKEN"]
    # The owner can move back to a former slug.
    back = api.data(UPDATE, {"id": course["id"], "input": {"slug": course["slug"]}}, token)[
        "updateCourse"
    ]
    assert back["slug"] == course["slug"]
    assert api.data(BY_SLUG, {"slug": new_slug})["courseBySlug"]["slug"] == course["slug"]


def test_archiving_and_republishing(api, worker, watcher, educator):
    token = educator[1]
    course = complete_course(api, watcher, token)
    api.data(PUBLISH, {"id": course["id"]}, token)
    archived = api.data(UPDATE, {"id": course["id"], "input": {"status": "ARCHIVED"}}, token)[
        "updateCourse"
    ]
    assert archived["status"] == "ARCHIVED"
    assert api.error_codes(COURSE, {"id": course["id"]}) == ["COURSE_NOT_FOUND"]
    assert api.data(PUBLISH, {"id": course["id"]}, token)["publishCourse"]["status"] == "PUBLISHED"


def test_publishing_needs_a_verified_email(api, worker, watcher):
    _, token = create_user(Role.EDUCATOR)  # email never verified
    course = complete_course(api, watcher, token)
    assert api.error_codes(PUBLISH, {"id": course["id"]}, token) == ["EMAIL_NOT_VERIFIED"]
    assert (
        api.data(VALIDATE, {"id": course["id"]}, token)["validateCoursePublication"]["isValid"]
        is True
    )


def test_review_workflow_when_configured(worker, watcher, educator, admin):
    process, url = start_api({"LMS_COURSE_REVIEW_REQUIRED": "true"})
    reviewed = GraphQLClient(url)
    try:
        course = complete_course(reviewed, watcher, educator[1])
        submitted = reviewed.data(PUBLISH, {"id": course["id"]}, educator[1])["publishCourse"]
        assert (
            submitted["status"] == "PENDING_REVIEW"
            and submitted["submittedAt"]
            and not submitted["publishedAt"]
        )
        assert reviewed.error_codes(PUBLISH, {"id": course["id"]}, educator[1]) == [
            "AWAITING_REVIEW"
        ]
        assert reviewed.error_codes(COURSE, {"id": course["id"]}) == ["COURSE_NOT_FOUND"]
        approved = reviewed.data(PUBLISH, {"id": course["id"]}, admin[1])["publishCourse"]
        assert approved["status"] == "PUBLISHED" and approved["publishedAt"]

        # An instructor can also withdraw a submission back to draft.
        other = complete_course(reviewed, watcher, educator[1])
        reviewed.data(PUBLISH, {"id": other["id"]}, educator[1])
        withdrawn = reviewed.data(
            UPDATE, {"id": other["id"], "input": {"status": "DRAFT"}}, educator[1]
        )
        assert withdrawn["updateCourse"]["status"] == "DRAFT"
    finally:
        reviewed.close()
        process.stop()


def test_bad_cover_images_are_refused_at_upload(api, educator):
    token = educator[1]
    course = create_course(api, token)
    garbage = "data:image/png;base64," + base64.b64encode(b"\x89PNG not really" * 50).decode()
    cases = [
        (garbage, "INVALID_IMAGE"),
        ("data:image/png;base64,%%%not-base64%%%", "INVALID_IMAGE"),
        ("https://example.com/cover.png", "INVALID_IMAGE"),
        (png_data_url(120, 80), "IMAGE_TOO_SMALL"),
        (png_data_url(400, 300, "BMP"), "INVALID_IMAGE"),
    ]
    for data_url, code in cases:
        assert api.error_codes(
            UPDATE, {"id": course["id"], "input": {"coverImageDataUrl": data_url}}, token
        ) == [code]
    assert api.data(COURSE, {"id": course["id"]}, token)["course"]["coverImage"] is None


def test_replacing_and_removing_a_cover(api, worker, watcher, educator):
    token = educator[1]
    course = complete_course(api, watcher, token)
    first = api.data(COURSE, {"id": course["id"]}, token)["course"]["coverImage"]["variants"]
    api.data(
        UPDATE,
        {"id": course["id"], "input": {"coverImageDataUrl": png_data_url(1600, 900, "JPEG")}},
        token,
    )
    assert wait_for_job(watcher, course["id"], "courses.resize_cover")["status"] == "SUCCEEDED"
    second = api.data(COURSE, {"id": course["id"]}, token)["course"]["coverImage"]["variants"]
    assert max(v["width"] for v in second) == 1280
    assert not any(
        storage(v["storageKey"]).exists() for v in first
    )  # the old version was cleaned up

    removed = api.data(UPDATE, {"id": course["id"], "input": {"coverImageDataUrl": None}}, token)[
        "updateCourse"
    ]
    assert removed["coverImage"] is None
    assert wait_for_job(watcher, course["id"], "courses.delete_storage")["status"] == "SUCCEEDED"
    assert not any(storage(v["storageKey"]).exists() for v in second)


def test_deleting_a_draft_removes_it_and_its_files(api, worker, watcher, educator):
    token = educator[1]
    course = complete_course(api, watcher, token)
    folder = storage(f"courses/{course['id']}")
    assert folder.is_dir()
    result = api.data(DELETE, {"id": course["id"]}, token)["deleteCourse"]
    assert result == {"courseId": course["id"], "outcome": "DELETED", "course": None}
    assert api.error_codes(COURSE, {"id": course["id"]}, token) == ["COURSE_NOT_FOUND"]
    assert api.error_codes(BY_SLUG, {"slug": course["slug"]}, token) == ["COURSE_NOT_FOUND"]
    assert wait_for_job(watcher, course["id"], "courses.delete_storage")["status"] == "SUCCEEDED"
    assert not folder.exists()


def test_deleting_a_course_with_enrollments_archives_it(api, worker, watcher, educator):
    token = educator[1]
    course = complete_course(api, watcher, token)
    api.data(PUBLISH, {"id": course["id"]}, token)
    with session_scope() as session:  # what the Enrollments module records when students enroll
        session.execute(
            update(Course).where(Course.id == uuid.UUID(course["id"])).values(enrollment_count=3)
        )
    result = api.data(DELETE, {"id": course["id"]}, token)["deleteCourse"]
    assert result == {
        "courseId": course["id"],
        "outcome": "ARCHIVED",
        "course": {"id": course["id"], "status": "ARCHIVED"},
    }
    # Still there for its instructors (and its content), gone from the catalog.
    assert len(api.data(COURSE, {"id": course["id"]}, token)["course"]["modules"]) == 1
    assert course["id"] not in {
        n["id"]
        for n in api.data(CATALOG_IDS, {"f": {"category": "Programming"}})["courses"]["nodes"]
    }
    assert storage(f"courses/{course['id']}").is_dir()


def test_admins_publish_any_course_without_review(api, worker, watcher, admin):
    owner = verified(Role.EDUCATOR)
    course = complete_course(api, watcher, owner[1])
    assert (
        api.data(PUBLISH, {"id": course["id"]}, admin[1])["publishCourse"]["status"] == "PUBLISHED"
    )
