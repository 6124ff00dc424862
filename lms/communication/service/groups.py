"""Small group conversations within a course, and writing to any conversation by its id.

A group belongs to one course: everyone in it is a member of that course, students may start
one only where classmates may write to each other (the course's rule, else the default), and
nobody is added by someone they blocked (or who blocked them). Its size is capped by
`LMS_COMMUNICATION_GROUP_MAX_MEMBERS`.
Messages, receipts, unread counts and deletion work as in a direct conversation.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.communication import access, errors
from lms.communication.access import CourseRole
from lms.communication.models import Conversation, ConversationKind, ConversationMember
from lms.communication.service.messaging import (
    blocked_between,
    checked_content,
    checked_files,
    deliver,
    member_conversation,
    send_message,
    user_not_found,
)
from lms.communication.settings import communication_settings
from lms.errors import ValidationFailed
from lms.models import utcnow
from lms.security import Viewer, require_authenticated
from lms.users import service as users


def _others(raw: list[Any], me: uuid.UUID) -> list[uuid.UUID]:
    """The other participants, each once, in the order given (yourself is implied)."""
    ids = dict.fromkeys(access.parse_uuid(v, type(user_not_found()), "user") for v in raw)
    ids.pop(me, None)
    return list(ids)


def create_group_conversation(
    session: Session,
    viewer: Viewer,
    *,
    course_id: Any,
    participant_ids: list[Any],
    input: dict[str, Any],
) -> dict[str, Any]:
    """Start a group in a course with its first message (as `sendMessage` starts a direct
    conversation); the message comes back, its `conversationId` names the group."""
    me = require_authenticated(viewer)
    role = access.require_member(session, viewer, course_id)
    course = access.parse_uuid(course_id, errors.NotCourseMember, "course")
    settings = communication_settings()
    default = settings.students_may_message_classmates
    if role == CourseRole.STUDENT and not access.classmates_allowed(session, course, default):
        raise errors.MessagingNotAllowed("students of this course may not write to classmates")
    others = _others(participant_ids, me)
    if len(others) < 2:
        raise ValidationFailed(
            "a group needs at least two other people (write to one with sendMessage)",
            field="participantIds",
        )
    if len(others) + 1 > settings.group_max_members:
        raise ValidationFailed(
            f"a group has at most {settings.group_max_members} members, you included",
            code="GROUP_TOO_LARGE",
            field="participantIds",
        )
    facts = users.member_facts(session, [me, *others])
    for other in others:
        if other not in facts:
            raise user_not_found()
        if access.course_role(session, access.member_viewer(other), course) is None:
            raise errors.MessagingNotAllowed(f"user {other} is not a member of this course")
        if blocked_between(session, me, other):
            raise errors.UserBlocked(f"messages between you and user {other} are blocked")
    files = checked_files(input.get("attachments"))
    content_html = checked_content(input.get("content"), bool(files))
    now = utcnow()
    group = Conversation(kind=ConversationKind.GROUP, course_id=course, last_message_at=now)
    session.add(group)
    session.flush()
    session.add_all(ConversationMember(conversation_id=group.id, user_id=u) for u in [me, *others])
    session.flush()
    return deliver(session, group.id, me, facts[me]["name"], others, files, content_html, now)


def send_to_conversation(
    session: Session, viewer: Viewer, *, conversation_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    """A message to every other member of one of your conversations. A direct one keeps
    `sendMessage`'s rules (blocks, shared courses); a group's members are its members."""
    me = require_authenticated(viewer)
    key = member_conversation(session, me, conversation_id)
    conversation = session.get(Conversation, key)
    members = list(
        session.scalars(
            select(ConversationMember.user_id).where(
                ConversationMember.conversation_id == key, ConversationMember.user_id != me
            )
        )
    )
    if conversation.kind == ConversationKind.DIRECT:
        return send_message(session, viewer, recipient_id=members[0], input=input)
    files = checked_files(input.get("attachments"))
    content_html = checked_content(input.get("content"), bool(files))
    name = users.member_facts(session, [me]).get(me, {}).get("name")
    now = utcnow()
    conversation.last_message_at = now
    return deliver(session, conversation.id, me, name, members, files, content_html, now)
