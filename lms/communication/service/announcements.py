"""Course announcements: draft, scheduled, published; edits keep their history.

Publishing fans out to every enrolled student through the Notifications module (one
`notifications.fanout` job, in-app, email and push by each student's choices). A scheduled
announcement is published by the scheduler (`communication.publish_due`) and never shows
to students before.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from lms.communication import access, errors, events
from lms.communication.models import Announcement, AnnouncementRevision, AnnouncementStatus
from lms.communication.service.paging import keyset_page
from lms.communication.service.views import announcement_view, connection_view
from lms.enrollments import access as enrollments
from lms.errors import ValidationFailed
from lms.models import utcnow
from lms.notifications import service as notifications
from lms.sanitize import plain_text, rich_text, visible_text
from lms.security import Viewer, require_authenticated

PRIORITIES = ("NORMAL", "HIGH", "URGENT")
_SHOWN_AT = func.coalesce(Announcement.published_at, Announcement.created_at)


def _title(raw: Any) -> str:
    title = plain_text(raw)
    if not title:
        raise errors.empty("title")
    if len(title) > 300:
        raise errors.too_long("title", 300)
    return title


def _content(raw: Any) -> str:
    if raw is not None and len(raw) > 50_000:
        raise errors.too_long("content", 50_000)
    html = rich_text(raw)
    if not visible_text(html):
        raise errors.empty("content")
    return html


def _priority(raw: Any) -> str:
    if raw not in PRIORITIES:
        raise ValidationFailed(f"unknown priority {raw!r}", field="priority")
    return raw


def _future(when: Any) -> Any:
    if when is not None and when <= utcnow():
        raise ValidationFailed(
            "publishAt must be in the future", code="INVALID_SCHEDULE", field="publishAt"
        )
    return when


def _announcement(session: Session, viewer: Viewer, announcement_id: Any, *, lock: bool = False):
    """The announcement, for the course's instructors (and admins) only."""
    require_authenticated(viewer)
    key = access.parse_uuid(announcement_id, errors.AnnouncementNotFound, "announcement")
    query = select(Announcement).where(Announcement.id == key, Announcement.deleted_at.is_(None))
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None or not access.moderates(access.course_role(session, viewer, found.course_id)):
        raise errors.AnnouncementNotFound("announcement not found")
    return found


def _view(session: Session, a: Announcement) -> dict[str, Any]:
    revisions = session.scalars(
        select(AnnouncementRevision)
        .where(AnnouncementRevision.announcement_id == a.id)
        .order_by(AnnouncementRevision.created_at)
    )
    return announcement_view(a, revisions=list(revisions))


def create_announcement(
    session: Session, viewer: Viewer, *, course_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    access.require_moderator(session, viewer, course_id)
    publish_at = _future(input.get("publish_at"))
    now = utcnow()
    announcement = Announcement(
        course_id=access.parse_uuid(course_id, errors.NotCourseMember, "course"),
        author_id=me,
        title=_title(input.get("title")),
        content=_content(input.get("content")),
        priority=_priority(input.get("priority") or "NORMAL"),
        status=AnnouncementStatus.SCHEDULED if publish_at else AnnouncementStatus.DRAFT,
        publish_at=publish_at,
        created_at=now,
        updated_at=now,
    )
    session.add(announcement)
    session.flush()
    return _view(session, announcement)


def update_announcement(
    session: Session, viewer: Viewer, *, announcement_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    a = _announcement(session, viewer, announcement_id, lock=True)
    title = _title(input["title"]) if input.get("title") is not None else a.title
    content = _content(input["content"]) if input.get("content") is not None else a.content
    if (title, content) != (a.title, a.content):
        session.add(
            AnnouncementRevision(
                announcement_id=a.id, editor_id=me, title=a.title, content=a.content
            )
        )
        a.title, a.content = title, content
    if input.get("priority") is not None:
        a.priority = _priority(input["priority"])
    if input.get("publish_at") is not None:
        if a.status == AnnouncementStatus.PUBLISHED:
            raise errors.AnnouncementAlreadyPublished("a published announcement has no schedule")
        a.publish_at = _future(input["publish_at"])
    a.updated_at = utcnow()
    session.flush()
    return _view(session, a)


def delete_announcement(session: Session, viewer: Viewer, *, announcement_id: Any) -> bool:
    a = _announcement(session, viewer, announcement_id, lock=True)
    a.deleted_at = utcnow()
    return True


def _publish(session: Session, a: Announcement) -> None:
    a.status = AnnouncementStatus.PUBLISHED
    a.published_at = a.updated_at = utcnow()
    students = enrollments.enrolled_student_ids(session, a.course_id)
    if students:
        a.fanout_job_id = notifications.notify_many(
            session,
            user_ids=students,
            type="ANNOUNCEMENT",
            title=a.title,
            body=visible_text(a.content)[:500],
            priority=a.priority,
            key=f"announcement:{a.id}",
            data={"courseId": str(a.course_id), "announcementId": str(a.id)},
        )
    session.flush()
    view = announcement_view(a)
    events.after_commit_publish(session, events.ANNOUNCEMENT_PUBLISHED, [view])


def publish_announcement(
    session: Session, viewer: Viewer, *, announcement_id: Any
) -> dict[str, Any]:
    """Now; or, for a draft whose `publishAt` is ahead, scheduled for then."""
    a = _announcement(session, viewer, announcement_id, lock=True)
    if a.status == AnnouncementStatus.PUBLISHED:
        raise errors.AnnouncementAlreadyPublished("the announcement is published already")
    if (
        a.status == AnnouncementStatus.DRAFT
        and a.publish_at is not None
        and a.publish_at > utcnow()
    ):
        a.status = AnnouncementStatus.SCHEDULED
        a.updated_at = utcnow()
        session.flush()
    else:
        _publish(session, a)
    return _view(session, a)


def publish_due(session: Session, *, limit: int = 100) -> int:
    """Publish scheduled announcements whose time has come (the scheduler, every few seconds).
    Rows are claimed with SKIP LOCKED, so two schedulers never publish one twice."""
    due = list(
        session.scalars(
            select(Announcement)
            .where(
                Announcement.status == AnnouncementStatus.SCHEDULED,
                Announcement.publish_at <= utcnow(),
                Announcement.deleted_at.is_(None),
            )
            .order_by(Announcement.publish_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for a in due:
        _publish(session, a)
    return len(due)


def announcements(
    session: Session,
    viewer: Viewer,
    *,
    course_id: Any,
    filter: dict[str, Any] | None = None,
    pagination: dict[str, Any] | None = None,
) -> dict[str, Any]:
    role = access.require_member(session, viewer, course_id)
    course = access.parse_uuid(course_id, errors.NotCourseMember, "course")
    status = (filter or {}).get("status")
    if not access.moderates(role):
        # Students never see drafts or scheduled ones, whatever they ask for.
        hidden = status not in (None, "PUBLISHED")
        status = AnnouncementStatus.PUBLISHED.value
    else:
        hidden = False
    statement = select(Announcement).where(
        Announcement.course_id == course, Announcement.deleted_at.is_(None)
    )
    if status:
        statement = statement.where(Announcement.status == AnnouncementStatus(status))
    if hidden:
        statement = statement.where(false())
    page = keyset_page(
        session,
        statement,
        name="announcements",
        arguments={"course": str(course), "status": status, "moderator": access.moderates(role)},
        pagination=pagination,
        columns=(_SHOWN_AT, Announcement.id),
        kinds=(type(utcnow()), uuid.UUID),
        key=lambda a: (a.published_at or a.created_at, a.id),
    )
    moderator = access.moderates(role)
    nodes = [_view(session, a) if moderator else announcement_view(a) for a in page.nodes]
    return connection_view(page, nodes)


def can_watch_course(session: Session, viewer: Viewer, course_id: Any) -> str:
    access.require_member(session, viewer, course_id)
    return str(access.parse_uuid(course_id, errors.NotCourseMember, "course"))
