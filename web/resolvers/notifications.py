"""Notifications: thin resolvers over `lms.notifications`; live streams keyed by user id."""

from __future__ import annotations

import asyncio
import uuid

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType

from lms.events.topics import NOTIFICATION_READ, NOTIFICATION_RECEIVED, UNREAD_COUNT, Topic
from lms.notifications import access, service
from lms.notifications.service.producer import unread_counts
from web.events import RECONNECTED, EventView
from web.service_fields import bind_service_fields, service_resolver

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
preferences_type = ObjectType("NotificationPreferences")

bind_service_fields(
    query,
    {
        "getNotification": service.get_notification,
        "getUnreadNotificationCount": service.get_unread_notification_count,
        "getNotificationPreferences": service.get_notification_preferences,
    },
)
query.set_field(
    "getUserNotifications",
    service_resolver(service.get_user_notifications, rename={"pagination": "pagination_input"}),
)
bind_service_fields(
    mutation,
    {
        "markNotificationRead": service.mark_notification_read,
        "markAllNotificationsRead": service.mark_all_notifications_read,
        "deleteExpiredNotifications": service.delete_expired_notifications,
        "registerPushSubscription": service.register_push_subscription,
        "removePushSubscription": service.remove_push_subscription,
    },
    write=True,
)


@mutation.field("updateNotificationPreferences")
async def resolve_update_preferences(_, info, input: dict) -> list:
    ctx = info.context
    return await ctx.write(service.update_notification_preferences, ctx.require_viewer(), **input)


@preferences_type.field("pushSubscriptions")
async def resolve_push_subscriptions(_prefs, info) -> list:
    ctx = info.context
    return await ctx.read(service.my_push_subscriptions, ctx.require_viewer())


@preferences_type.field("vapidPublicKey")
def resolve_vapid_public_key(*_) -> str:
    return service.vapid_public_key()


# --- subscriptions ----------------------------------------------------------------------------


def _live(name: str, topic: Topic, *, convert=None) -> None:
    """A stream of one user's events on `topic`: the user's own, or anyone's for admins."""

    async def source(_, info, user_id: str):
        ctx = info.context
        key = str(access.target_user(ctx.require_viewer(), user_id))
        async for event in ctx.hub.stream(topic, key):
            yield event

    subscription.set_source(name, source)
    subscription.set_field(
        name, lambda event, *_args, **_kwargs: convert(event) if convert else event
    )


@subscription.source("unreadCountChanged")
async def unread_count_source(_, info, user_id: str):
    """The current count, then every change: read marks publish one, and each new
    notification carries the count with it (one event per recipient in a fan-out)."""
    ctx = info.context
    key = str(access.target_user(ctx.require_viewer(), user_id))

    async def current() -> dict:
        return EventView(userId=key, count=await ctx.read(_count_for, uuid.UUID(key)))

    hub = ctx.hub
    # Both keys are bound before the count is read, so no change falls in between.
    async with (
        hub.listen(UNREAD_COUNT, key) as counts,
        hub.listen(NOTIFICATION_RECEIVED, key) as new,
    ):
        yield await current()
        waiting = {asyncio.ensure_future(q.get()): q for q in (counts, new)}
        try:
            while True:
                finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    queue = waiting.pop(task)
                    waiting[asyncio.ensure_future(queue.get())] = queue
                    event = task.result()
                    if event is RECONNECTED:  # events may have been missed: the count again
                        yield await current()
                    elif queue is new:
                        yield EventView(userId=key, count=event["unreadCount"])
                    else:
                        yield event
        finally:
            for task in waiting:
                task.cancel()


@subscription.field("unreadCountChanged")
def resolve_unread_count(event, *_args, **_kwargs) -> dict:
    return event


def _count_for(session, user_id: uuid.UUID) -> int:
    return unread_counts(session, [user_id])[user_id]


def _received(event: dict) -> EventView:
    """The bus payload as a `Notification`: unread, shown in-app, other channels pending."""
    in_app = {
        "channel": "IN_APP",
        "status": "DELIVERED",
        "attempts": 0,
        "sentAt": event["createdAt"],
    }
    return EventView(event, read=False, deliveries=[in_app])


_live("notificationReceived", NOTIFICATION_RECEIVED, convert=_received)
_live("notificationRead", NOTIFICATION_READ)

bindables = [query, mutation, subscription, preferences_type]
