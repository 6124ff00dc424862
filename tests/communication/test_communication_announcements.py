"""Announcements through GraphQL: drafts and scheduled ones stay hidden from students until
published (by the instructor, or by the scheduler's job when their time comes); edits keep
their history; only the course's instructors write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from lms.communication.models import Announcement
from lms.db import session_scope
from tasks.communication import publish_due_announcements
from tests.communication.conftest import course_with, person

FIELDS = "id title content status priority publishAt publishedAt revisions { title content }"
CREATE = f"""mutation($c: ID!, $i: AnnouncementInput!) {{
  createAnnouncement(courseId: $c, input: $i) {{ {FIELDS} }} }}"""
UPDATE = f"""mutation($a: ID!, $i: UpdateAnnouncementInput!) {{
  updateAnnouncement(announcementId: $a, input: $i) {{ {FIELDS} }} }}"""
PUBLISH = f"mutation($a: ID!) {{ publishAnnouncement(announcementId: $a) {{ {FIELDS} }} }}"
DELETE = "mutation($a: ID!) { deleteAnnouncement(announcementId: $a) }"
LIST = f"""query($c: ID!, $f: AnnouncementFilter) {{ announcements(courseId: $c, filter: $f) {{
  totalCount nodes {{ {FIELDS} }} }} }}"""


def later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def titles(api, who, course_id, **filters) -> list[str]:
    found = await api.data(who, LIST, c=course_id, f=filters or None)
    return [a["title"] for a in found["announcements"]["nodes"]]


async def test_a_draft_is_edited_then_published_to_the_course(api):
    course = course_with(students=1)
    teacher, student, outsider = course.teacher, course.students[0], person()
    draft_input = {"title": "Exam moved", "content": "<p>To <b>Friday</b>.</p>", "priority": "HIGH"}
    draft = (await api.data(teacher, CREATE, c=course.id, i=draft_input))["createAnnouncement"]
    assert draft["status"] == "DRAFT" and draft["priority"] == "HIGH"
    assert await titles(api, student, course.id) == []
    assert await titles(api, student, course.id, status="DRAFT") == []  # never drafts
    assert await titles(api, teacher, course.id, status="DRAFT") == ["Exam moved"]

    assert await api.codes(student, CREATE, c=course.id, i=draft_input) == ["FORBIDDEN"]
    assert await api.codes(outsider, LIST, c=course.id) == ["NOT_COURSE_MEMBER"]
    assert await api.codes(student, PUBLISH, a=draft["id"]) == ["ANNOUNCEMENT_NOT_FOUND"]
    past = {"publishAt": later(minutes=-1)}
    assert await api.codes(teacher, UPDATE, a=draft["id"], i=past) == ["INVALID_SCHEDULE"]

    edited = await api.data(teacher, UPDATE, a=draft["id"], i={"title": "Exam moved again"})
    assert edited["updateAnnouncement"]["revisions"] == [
        {"title": "Exam moved", "content": "<p>To <b>Friday</b>.</p>"}
    ]
    published = (await api.data(teacher, PUBLISH, a=draft["id"]))["publishAnnouncement"]
    assert published["status"] == "PUBLISHED" and published["publishedAt"]
    assert await titles(api, student, course.id) == ["Exam moved again"]
    assert await api.codes(teacher, PUBLISH, a=draft["id"]) == ["ANNOUNCEMENT_ALREADY_PUBLISHED"]

    assert (await api.data(teacher, DELETE, a=draft["id"]))["deleteAnnouncement"] is True
    assert await titles(api, student, course.id) == []
    assert await api.codes(teacher, PUBLISH, a=draft["id"]) == ["ANNOUNCEMENT_NOT_FOUND"]


async def test_a_scheduled_announcement_is_published_by_the_scheduler_never_before(api):
    course = course_with(students=1)
    teacher, student = course.teacher, course.students[0]
    scheduled = {"title": "Week 2", "content": "Starts Monday.", "publishAt": later(hours=1)}
    made = (await api.data(teacher, CREATE, c=course.id, i=scheduled))["createAnnouncement"]
    assert made["status"] == "SCHEDULED"
    assert publish_due_announcements() == 0  # not yet due: the scheduler leaves it
    assert await titles(api, student, course.id) == []

    # An hour passes (the row's time is moved back instead of waiting for it).
    with session_scope() as session:
        session.execute(
            update(Announcement)
            .where(Announcement.id == made["id"])
            .values(publish_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert publish_due_announcements() == 1
    assert publish_due_announcements() == 0  # published once
    [shown] = (await api.data(student, LIST, c=course.id))["announcements"]["nodes"]
    assert shown["title"] == "Week 2" and shown["status"] == "PUBLISHED"
    assert shown["revisions"] == []  # the history is for instructors
