"""The notifications service: what producers, resolvers and jobs call."""

from lms.notifications.service.inbox import (
    delete_expired,
    delete_expired_notifications,
    get_notification,
    get_unread_notification_count,
    get_user_notifications,
    mark_all_notifications_read,
    mark_notification_read,
)
from lms.notifications.service.preferences import (
    get_notification_preferences,
    preferences_view,
    update_notification_preferences,
)
from lms.notifications.service.producer import (
    Spec,
    create_batch,
    fanout_batches,
    notify,
    notify_many,
)
from lms.notifications.service.push import (
    my_push_subscriptions,
    register_push_subscription,
    remove_push_subscription,
    vapid_public_key,
)

__all__ = [
    "Spec",
    "create_batch",
    "delete_expired",
    "delete_expired_notifications",
    "fanout_batches",
    "get_notification",
    "get_notification_preferences",
    "get_unread_notification_count",
    "get_user_notifications",
    "mark_all_notifications_read",
    "mark_notification_read",
    "my_push_subscriptions",
    "notify",
    "notify_many",
    "preferences_view",
    "register_push_subscription",
    "remove_push_subscription",
    "update_notification_preferences",
    "vapid_public_key",
]
