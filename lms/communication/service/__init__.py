"""The Communication service: what resolvers, jobs and other modules call."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.communication import access
from lms.communication.errors import ConversationNotFound, NotCourseMember
from lms.communication.service.announcements import (
    announcements,
    can_watch_course,
    create_announcement,
    delete_announcement,
    publish_announcement,
    publish_due,
    update_announcement,
)
from lms.communication.service.forums import (
    can_watch_thread,
    create_discussion_thread,
    delete_discussion_thread,
    delete_post,
    discussion_threads,
    flag_post,
    flagged_posts,
    mark_solution,
    reply_to_thread,
    thread_posts,
    update_discussion_thread,
    update_post,
    vote_post,
)
from lms.communication.service.course_rules import (
    course_messaging_settings,
    update_course_messaging_settings,
)
from lms.communication.service.groups import create_group_conversation, send_to_conversation
from lms.communication.service.messaging import (
    block_user,
    conversation_messages,
    conversations,
    delete_message,
    is_member,
    mark_conversation_as_read,
    mark_message_as_read,
    send_message,
    unblock_user,
    unread_message_count,
)
from lms.errors import ValidationFailed
from lms.security import Viewer, require_authenticated


def presence_course(session: Session, viewer: Viewer, *, course_id: Any) -> str | None:
    """The course whose presence the viewer may join or see (members only); None: none."""
    require_authenticated(viewer)
    if course_id is None:
        return None
    access.require_member(session, viewer, course_id)
    return str(access.parse_uuid(course_id, NotCourseMember, "course"))


def typing_target(
    session: Session, viewer: Viewer, *, conversation_id: Any = None, thread_id: Any = None
) -> tuple[str | None, str | None]:
    """Exactly one of a conversation of the viewer's or a thread they may see."""
    me = require_authenticated(viewer)
    if (conversation_id is None) == (thread_id is None):
        raise ValidationFailed(
            "give exactly one of conversationId and threadId", code="BAD_USER_INPUT"
        )
    if conversation_id is not None:
        if not is_member(session, me, conversation_id):
            raise ConversationNotFound("conversation not found")
        return str(access.parse_uuid(conversation_id, ConversationNotFound, "conversation")), None
    return None, can_watch_thread(session, viewer, thread_id)


__all__ = [
    "announcements",
    "block_user",
    "can_watch_course",
    "can_watch_thread",
    "conversation_messages",
    "conversations",
    "create_announcement",
    "create_discussion_thread",
    "delete_announcement",
    "delete_discussion_thread",
    "delete_message",
    "delete_post",
    "discussion_threads",
    "flag_post",
    "flagged_posts",
    "create_group_conversation",
    "course_messaging_settings",
    "update_course_messaging_settings",
    "send_to_conversation",
    "mark_conversation_as_read",
    "mark_message_as_read",
    "mark_solution",
    "presence_course",
    "publish_announcement",
    "publish_due",
    "reply_to_thread",
    "send_message",
    "thread_posts",
    "typing_target",
    "unblock_user",
    "unread_message_count",
    "update_announcement",
    "update_discussion_thread",
    "update_post",
    "vote_post",
]
