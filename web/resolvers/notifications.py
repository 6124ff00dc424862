"""Notifications: thin resolvers over `lms.notifications`; live streams keyed by user id."""

from __future__ import annotations

import uuid

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType

from lms.events.topics import NOTIFICATION_READ, NOTIFICATION_RECEIVED, UNREAD_COUNT, Topic
from lms.notifications import access, service
from lms.notifications.service.producer import unread_counts
from web.events import EventView
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


def _live(name: str, topic: Topic, *, current=None, convert=None) -> None:
    """A stream of one user's events on `topic`: the user's own, or anyone's for admins."""

    async def source(_, info, user_id: str):
        ctx = info.context
        viewer = ctx.require_viewer()
        key = str(access.target_user(viewer, user_id))
        state = None
        if current is not None:

            async def state() -> EventView:
                return EventView(await current(ctx, viewer, key))

        # The stream binds its key before `state()` reads, so no change falls in between.
        async for event in ctx.hub.stream(topic, key, current=state):
            yield event

    subscription.set_source(name, source)
    subscription.set_field(
        name, lambda event, *_args, **_kwargs: convert(event) if convert else event
    )


async def _unread(ctx, viewer, key: str) -> dict:
    return {"userId": key, "count": await ctx.read(_count_for, uuid.UUID(key))}


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
_live("unreadCountChanged", UNREAD_COUNT, current=_unread)

bindables = [query, mutation, subscription, preferences_type]
