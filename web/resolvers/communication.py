"""Communication: thin resolvers over `lms.communication`; live streams keyed by user,
thread, course or typing scope, each authorized before its key is bound."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType

from lms.communication import service
from lms.communication.events import (
    ANNOUNCEMENT_PUBLISHED,
    CONVERSATION_UPDATED,
    DISCUSSION_POST,
    MESSAGE_RECEIVED,
    PRESENCE,
    THREAD_UPDATED,
    TYPING,
)
from lms.communication.service import live
from lms.errors import Forbidden
from lms.security import require_authenticated
from web.events import EventView

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
thread_type = ObjectType("DiscussionThread")


def _view(value: Any) -> Any:
    """Services answer camelCase dicts (the bus's shape); Ariadne looks fields up snake_case."""
    return EventView(value) if isinstance(value, dict) else value


def _bind(object_type: ObjectType, fields: dict[str, Callable[..., Any]], *, write: bool) -> None:
    for name, fn in fields.items():

        async def resolve(_parent, info, _fn=fn, **arguments):
            ctx = info.context
            run = ctx.write if write else ctx.read
            return _view(await run(_fn, ctx.require_viewer(), **arguments))

        object_type.set_field(name, resolve)


_bind(
    query,
    {
        "conversations": service.conversations,
        "conversationMessages": service.conversation_messages,
        "unreadMessageCount": service.unread_message_count,
        "discussionThreads": service.discussion_threads,
        "flaggedPosts": service.flagged_posts,
        "courseMessagingSettings": service.course_messaging_settings,
        "announcements": service.announcements,
    },
    write=False,
)
_bind(
    mutation,
    {
        "sendMessage": service.send_message,
        "createGroupConversation": service.create_group_conversation,
        "sendToConversation": service.send_to_conversation,
        "updateCourseMessagingSettings": service.update_course_messaging_settings,
        "markMessageAsRead": service.mark_message_as_read,
        "markConversationAsRead": service.mark_conversation_as_read,
        "deleteMessage": service.delete_message,
        "blockUser": service.block_user,
        "unblockUser": service.unblock_user,
        "createDiscussionThread": service.create_discussion_thread,
        "updateDiscussionThread": service.update_discussion_thread,
        "deleteDiscussionThread": service.delete_discussion_thread,
        "replyToThread": service.reply_to_thread,
        "updatePost": service.update_post,
        "deletePost": service.delete_post,
        "votePost": service.vote_post,
        "markSolution": service.mark_solution,
        "flagPost": service.flag_post,
        "createAnnouncement": service.create_announcement,
        "updateAnnouncement": service.update_announcement,
        "deleteAnnouncement": service.delete_announcement,
        "publishAnnouncement": service.publish_announcement,
    },
    write=True,
)


@thread_type.field("posts")
async def resolve_thread_posts(thread, info) -> list:
    ctx = info.context
    if thread.get("isDeleted"):
        return []
    posts = await ctx.read(service.thread_posts, ctx.require_viewer(), thread_id=thread["id"])
    return [EventView(post) for post in posts]


# --- presence and typing: ephemeral, authorized against the database first ---------------------


@query.field("coursePresence")
async def resolve_course_presence(_, info, course_id: str) -> EventView:
    ctx = info.context
    course = await ctx.read(service.presence_course, ctx.require_viewer(), course_id=course_id)
    return EventView(await live.presence_for(ctx.settings).course(course))


@mutation.field("updatePresence")
async def resolve_update_presence(_, info, status: str, course_id: str | None = None):
    ctx = info.context
    viewer = ctx.require_viewer()
    course = await ctx.read(service.presence_course, viewer, course_id=course_id)
    presence = live.presence_for(ctx.settings)
    return EventView(await presence.update(course, str(viewer.user_id), status))


async def _typing(info, conversation_id, thread_id, *, is_typing: bool) -> EventView:
    ctx = info.context
    viewer = ctx.require_viewer()
    conversation, thread = await ctx.read(
        service.typing_target, viewer, conversation_id=conversation_id, thread_id=thread_id
    )
    event = await live.typing(
        ctx.settings,
        user=str(viewer.user_id),
        conversation_id=conversation,
        thread_id=thread,
        is_typing=is_typing,
    )
    return EventView(event)


@mutation.field("startTyping")
async def resolve_start_typing(_, info, conversation_id=None, thread_id=None):
    return await _typing(info, conversation_id, thread_id, is_typing=True)


@mutation.field("stopTyping")
async def resolve_stop_typing(_, info, conversation_id=None, thread_id=None):
    return await _typing(info, conversation_id, thread_id, is_typing=False)


# --- subscriptions --------------------------------------------------------------------------------


def _own_user(info, user_id: str) -> str:
    """Messages are private: a user subscribes to their own streams only (admins too)."""
    me = require_authenticated(info.context.require_viewer())
    if str(user_id) != str(me):
        raise Forbidden("you may only subscribe to your own messages", code="FORBIDDEN")
    return str(me)


def _identity(event, *_args, **_kwargs):
    return event


@subscription.source("messageReceived")
async def message_source(_, info, user_id: str):
    async for event in info.context.hub.stream(MESSAGE_RECEIVED, _own_user(info, user_id)):
        yield event


@subscription.source("conversationUpdated")
async def conversation_source(_, info, user_id: str):
    async for event in info.context.hub.stream(CONVERSATION_UPDATED, _own_user(info, user_id)):
        yield event


async def _thread_key(info, thread_id: str) -> str:
    ctx = info.context
    return await ctx.read(service.can_watch_thread, ctx.require_viewer(), thread_id)


@subscription.source("newDiscussionPost")
async def post_source(_, info, thread_id: str):
    async for event in info.context.hub.stream(DISCUSSION_POST, await _thread_key(info, thread_id)):
        yield event


@subscription.source("threadUpdated")
async def thread_source(_, info, thread_id: str):
    async for event in info.context.hub.stream(THREAD_UPDATED, await _thread_key(info, thread_id)):
        yield event


@subscription.source("announcementPublished")
async def announcement_source(_, info, course_id: str):
    ctx = info.context
    key = await ctx.read(service.can_watch_course, ctx.require_viewer(), course_id)
    async for event in ctx.hub.stream(ANNOUNCEMENT_PUBLISHED, key):
        yield event


@subscription.source("userPresence")
async def presence_source(_, info, course_id: str):
    ctx = info.context
    key = await ctx.read(service.presence_course, ctx.require_viewer(), course_id=course_id)
    async for event in ctx.hub.stream(PRESENCE, key):
        yield event


@subscription.source("typingIndicator")
async def typing_source(_, info, conversation_id: str | None = None, thread_id: str | None = None):
    ctx = info.context
    viewer = ctx.require_viewer()
    conversation, thread = await ctx.read(
        service.typing_target, viewer, conversation_id=conversation_id, thread_id=thread_id
    )
    me = str(viewer.user_id)
    async for event in ctx.hub.stream(TYPING, live.typing_scope(conversation, thread)):
        if event["userId"] != me:  # your own typing is not news to you
            yield event


for _name in (
    "messageReceived",
    "conversationUpdated",
    "newDiscussionPost",
    "threadUpdated",
    "announcementPublished",
    "userPresence",
    "typingIndicator",
):
    subscription.set_field(_name, _identity)

bindables = [query, mutation, subscription, thread_type]
