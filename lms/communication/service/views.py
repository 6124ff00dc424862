"""Rows as the GraphQL types show them: camelCase dicts, the same shape the bus carries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from lms.communication.models import (
    Announcement,
    DiscussionPost,
    DiscussionThread,
    Message,
)
from lms.config import get_settings
from lms.models import utcnow
from lms.pagination import Connection
from lms.storage import signing

ATTACHMENT_LINK_MINUTES = 60


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def attachment_view(item: dict[str, Any], *, with_url: bool) -> dict[str, Any]:
    url = None
    if with_url:
        expires = utcnow() + timedelta(minutes=ATTACHMENT_LINK_MINUTES)
        url = signing.api_url(item["storageKey"], expires, settings=get_settings())
    return {
        "fileName": item["fileName"],
        "contentType": item["contentType"],
        "sizeBytes": item["sizeBytes"],
        "url": url,
    }


def message_view(
    message: Message,
    *,
    read_at: datetime | None = None,
    sender_name: str | None = None,
    with_urls: bool = True,
) -> dict[str, Any]:
    gone = message.deleted_for_everyone_at is not None
    return {
        "id": str(message.id),
        "conversationId": str(message.conversation_id),
        "senderId": str(message.sender_id),
        "senderName": sender_name,
        "content": "" if gone else message.content,
        "attachments": []
        if gone
        else [attachment_view(a, with_url=with_urls) for a in message.attachments or []],
        "createdAt": iso(message.created_at),
        "readAt": iso(read_at),
        "deletedForEveryone": gone,
    }


def post_view(
    post: DiscussionPost,
    *,
    solution_id: uuid.UUID | None = None,
    votes: tuple[int, int] = (0, 0),
    my_vote: int | None = None,
    author_name: str | None = None,
    revisions: Sequence[Any] = (),
    moderator: bool = False,
) -> dict[str, Any]:
    hidden = post.hidden_at is not None
    deleted = post.deleted_at is not None
    # A hidden post's text is kept for its author and moderators, who decide on it.
    shows_text = not deleted and (not hidden or moderator)
    return {
        "id": str(post.id),
        "threadId": str(post.thread_id),
        "authorId": str(post.author_id),
        "authorName": author_name,
        "parentId": str(post.parent_id) if post.parent_id else None,
        "content": post.content if shows_text else "",
        "score": post.score,
        "upvotes": votes[0],
        "downvotes": votes[1],
        "myVote": {1: "UPVOTE", -1: "DOWNVOTE"}.get(my_vote or 0),
        "isSolution": solution_id == post.id,
        "isEndorsed": post.is_endorsed,
        "isHidden": hidden,
        "createdAt": iso(post.created_at),
        "editedAt": iso(post.edited_at),
        "revisions": [
            {"content": r.content, "editorId": str(r.editor_id), "createdAt": iso(r.created_at)}
            for r in revisions
        ],
        "isDeleted": deleted,
    }


def thread_view(
    thread: DiscussionThread,
    *,
    author_name: str | None = None,
    opening: dict[str, Any] | None = None,
    posts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": str(thread.id),
        "courseId": str(thread.course_id),
        "lessonId": str(thread.lesson_id) if thread.lesson_id else None,
        "authorId": str(thread.author_id),
        "authorName": author_name,
        "title": thread.title,
        "category": thread.category,
        "isPinned": thread.is_pinned,
        "isLocked": thread.is_locked,
        "isClosed": thread.is_closed,
        "solutionPostId": str(thread.solution_post_id) if thread.solution_post_id else None,
        "replyCount": thread.reply_count,
        "createdAt": iso(thread.created_at),
        "updatedAt": iso(thread.updated_at),
        "lastPostAt": iso(thread.last_post_at),
        "openingPost": opening,
        "posts": posts or [],
        "isDeleted": thread.deleted_at is not None,
    }


def announcement_view(a: Announcement, *, revisions: Sequence[Any] = ()) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "courseId": str(a.course_id),
        "authorId": str(a.author_id),
        "title": a.title,
        "content": a.content,
        "priority": a.priority,
        "status": a.status.value,
        "publishAt": iso(a.publish_at),
        "publishedAt": iso(a.published_at),
        "createdAt": iso(a.created_at),
        "updatedAt": iso(a.updated_at),
        "revisions": [
            {
                "title": r.title,
                "content": r.content,
                "editorId": str(r.editor_id),
                "createdAt": iso(r.created_at),
            }
            for r in revisions
        ],
    }


def connection_view(page: Connection, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A `Connection` whose nodes were turned into views (same order)."""
    info = page.page_info
    return {
        "edges": [
            {"cursor": edge.cursor, "node": node}
            for edge, node in zip(page.edges, nodes, strict=True)
        ],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": info.has_next_page,
            "hasPreviousPage": info.has_previous_page,
            "startCursor": info.start_cursor,
            "endCursor": info.end_cursor,
        },
        "totalCount": page.total_count,
    }
