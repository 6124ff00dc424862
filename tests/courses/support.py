"""Helpers for the courses tests: GraphQL documents, users with roles, small builders."""

from __future__ import annotations

import base64
import io
import uuid

from PIL import Image
from sqlalchemy import select, update

from lms.db import session_scope
from lms.jobs.models import Job
from lms.models import utcnow
from lms.users.models import Role, User
from tests.support import JobWatcher, create_user

COURSE_FIELDS = """
  id slug title description category tags difficulty language priceAmount currency isFree
  enrollmentLimit status viewerCanEdit moduleCount lessonCount totalDurationSeconds
  instructors { userId name role }
  coverImage { status errorMessage variants { width height format storageKey url } }
  modules { id title position lessons { id title type position content isFreePreview
    requiresPrevious durationSeconds } }
"""
CREATE = (
    "mutation($input: CreateCourseInput!) { createCourse(input: $input) {" + COURSE_FIELDS + "} }"
)
UPDATE = (
    "mutation($id: ID!, $input: UpdateCourseInput!) { updateCourse(id: $id, input: $input) {"
    + COURSE_FIELDS
    + "} }"
)
COURSE = "query($id: ID!) { course(id: $id) {" + COURSE_FIELDS + "} }"
BY_SLUG = "query($slug: String!) { courseBySlug(slug: $slug) { id slug title } }"
PUBLISH = "mutation($id: ID!) { publishCourse(id: $id) { id status slug publishedAt submittedAt } }"
VALIDATE = """mutation($id: ID!) { validateCoursePublication(id: $id) {
  courseId isValid unmetRequirements { code message field moduleId lessonId } } }"""
ADD_MODULE = """mutation($id: ID!, $input: CreateModuleInput!) {
  addModule(courseId: $id, input: $input) {
  id title position courseId } }"""
ADD_LESSON = """mutation($id: ID!, $input: CreateLessonInput!) {
  addLesson(moduleId: $id, input: $input) {
  id title type position content videoAssetId moduleId courseId durationSeconds } }"""
DELETE = "mutation($id: ID!) { deleteCourse(id: $id) { courseId outcome course { id status } } }"
LONG_DESCRIPTION = (
    "<p>" + "A practical course that builds real projects step by step. " * 2 + "</p>"
)


def verified(role: Role) -> tuple[User, str]:
    """A user with a verified email (publishing requires one) and their token."""
    user, token = create_user(role)
    with session_scope() as session:
        session.execute(update(User).where(User.id == user.id).values(email_verified_at=utcnow()))
    return user, token


def png_data_url(width: int = 800, height: int = 450, fmt: str = "PNG") -> str:
    image = Image.new("RGB", (width, height), (30, 120, 200))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def create_course(api, token: str, **fields) -> dict:
    fields.setdefault("title", f"Course {uuid.uuid4().hex[:8]}")
    return api.data(CREATE, {"input": fields}, token)["createCourse"]


def add_module(api, token: str, course_id: str, title: str = "Module", **fields) -> dict:
    return api.data(ADD_MODULE, {"id": course_id, "input": {"title": title, **fields}}, token)[
        "addModule"
    ]


def add_lesson(
    api, token: str, module_id: str, title: str = "Lesson", type: str = "TEXT", **fields
) -> dict:
    fields.setdefault("content", "<p>Lesson text.</p>")
    return api.data(
        ADD_LESSON, {"id": module_id, "input": {"title": title, "type": type, **fields}}, token
    )["addLesson"]


def course_jobs(course_id: str, kind: str) -> list[uuid.UUID]:
    """Ids of the jobs of `kind` recorded for a course, oldest first."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(Job.id)
                .where(Job.subject_type == "course", Job.subject_id == course_id, Job.kind == kind)
                .order_by(Job.created_at)
            )
        )


def wait_for_job(watcher: JobWatcher, course_id: str, kind: str) -> dict:
    """The final event of the course's latest job of `kind`."""
    return watcher.wait(course_jobs(course_id, kind)[-1])
