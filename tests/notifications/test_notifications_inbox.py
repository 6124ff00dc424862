"""The inbox end to end: a producer in another process notifies, the API process streams it
over websocket (graphql-transport-ws), the user reads and marks; exactly once; bad input."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import select

from lms.db import session_scope
from lms.errors import ValidationFailed
from lms.notifications.models import Notification
from lms.notifications.service import notify
from lms.users.models import Role
from tests.enrollments.support import enroll, make_course
from tests.support import create_user

FIELDS = "id type priority title body link read data deliveries { channel status errorCode }"
LIST = f"""query($f: NotificationFilter, $p: PaginationInput) {{
  getUserNotifications(filter: $f, pagination: $p) {{
    totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {FIELDS} }} }} }}"""
ONE = f"query($id: ID!) {{ getNotification(id: $id) {{ {FIELDS} }} }}"
COUNT = "query($t: NotificationType) { getUnreadNotificationCount(notificationType: $t) }"
MARK = (
    f"mutation($i: MarkNotificationReadInput!) {{ markNotificationRead(input: $i) {{ {FIELDS} }} }}"
)
MARK_ALL = """mutation($i: MarkAllNotificationsReadInput) {
  markAllNotificationsRead(input: $i) { count unreadCount } }"""
RECEIVED = gql(
    "subscription($u: ID!) { notificationReceived(userId: $u) { id title type read userId } }"
)
READ = gql("subscription($u: ID!) { notificationRead(userId: $u) { notificationIds all } }")
UNREAD = gql("subscription($u: ID!) { unreadCountChanged(userId: $u) { userId count } }")


def produce(user_id, key=None, **extra) -> uuid.UUID:
    """What a producer does: notify in its own transaction (here: this test process)."""
    spec = {"type": "GRADE_POSTED", "title": "Essay graded", "body": "A-", **extra}
    with session_scope() as session:
        return notify(session, user_id=user_id, key=key or uuid.uuid4().hex, **spec)


def transport(api, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=api.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=["graphql-transport-ws"],
    )


async def test_a_notification_reaches_the_inbox_live_and_is_marked_read(api):
    user, token = create_user(Role.STUDENT)
    u = {"u": str(user.id)}
    async with Client(transport=transport(api, token)) as ws:
        unread = ws.subscribe(UNREAD, variable_values=u)
        received = ws.subscribe(RECEIVED, variable_values=u)
        read = ws.subscribe(READ, variable_values=u)
        first = await asyncio.wait_for(unread.__anext__(), 30)  # the current count comes first
        assert first["unreadCountChanged"] == {"userId": str(user.id), "count": 0}
        got = asyncio.ensure_future(received.__anext__())
        marked = asyncio.ensure_future(read.__anext__())
        # The other streams register asynchronously: notify until the first one hears it.
        sent = []
        while not got.done():
            sent.append(await asyncio.to_thread(produce, user.id, title=f"Essay {len(sent)}"))
            await asyncio.wait([got], timeout=0.5)
        event = got.result()["notificationReceived"]
        assert event["id"] in {str(i) for i in sent} and event["read"] is False
        assert event["type"] == "GRADE_POSTED" and event["userId"] == str(user.id)
        counted = (await asyncio.wait_for(unread.__anext__(), 30))["unreadCountChanged"]
        assert counted["count"] >= 1

        listing = api.data(LIST, {}, token)["getUserNotifications"]
        assert listing["totalCount"] == len(sent)
        node = listing["nodes"][0]  # newest first
        assert node["title"] == f"Essay {len(sent) - 1}" and node["read"] is False
        assert node["deliveries"][0] == {
            "channel": "IN_APP",
            "status": "DELIVERED",
            "errorCode": None,
        }
        assert [d["channel"] for d in node["deliveries"]] == ["IN_APP", "EMAIL"]
        assert api.data(COUNT, {}, token)["getUnreadNotificationCount"] == len(sent)
        assert api.data(COUNT, {"t": "ANNOUNCEMENT"}, token)["getUnreadNotificationCount"] == 0

        # Reading a second live connection is not needed: the read event reaches this one.
        done = api.data(MARK, {"i": {"notificationId": node["id"]}}, token)
        assert done["markNotificationRead"]["read"] is True
        assert (await asyncio.wait_for(marked, 30))["notificationRead"] == {
            "notificationIds": [node["id"]],
            "all": False,
        }
        while counted["count"] != len(sent) - 1:
            counted = (await asyncio.wait_for(unread.__anext__(), 30))["unreadCountChanged"]
        unread_only = api.data(LIST, {"f": {"unreadOnly": True}}, token)["getUserNotifications"]
        assert node["id"] not in [n["id"] for n in unread_only["nodes"]]

        result = api.data(MARK_ALL, {}, token)["markAllNotificationsRead"]
        assert result == {"count": len(sent) - 1, "unreadCount": 0}
        while counted["count"] != 0:
            counted = (await asyncio.wait_for(unread.__anext__(), 30))["unreadCountChanged"]
        assert api.data(COUNT, {}, token)["getUnreadNotificationCount"] == 0


def test_a_repeated_producer_event_makes_one_notification(api):
    user, token = create_user(Role.STUDENT)
    first = produce(user.id, key="grade:42")
    again = produce(user.id, key="grade:42", title="Essay graded (retry)")
    assert first == again
    listing = api.data(LIST, {}, token)["getUserNotifications"]
    assert listing["totalCount"] == 1 and listing["nodes"][0]["title"] == "Essay graded"


def test_pages_follow_the_cursor(api):
    user, token = create_user(Role.STUDENT)
    for n in range(3):
        produce(user.id, title=f"n{n}")
    page = api.data(LIST, {"p": {"first": 2}}, token)["getUserNotifications"]
    assert [n["title"] for n in page["nodes"]] == ["n2", "n1"] and page["pageInfo"]["hasNextPage"]
    rest = api.data(LIST, {"p": {"first": 2, "after": page["pageInfo"]["endCursor"]}}, token)
    assert [n["title"] for n in rest["getUserNotifications"]["nodes"]] == ["n0"]


async def test_another_users_notifications_and_streams_are_refused(api):
    owner, _ = create_user(Role.STUDENT)
    _, other_token = create_user(Role.STUDENT)
    _admin, admin_token = create_user(Role.ADMIN)
    mine = str(produce(owner.id))
    assert api.error_codes(ONE, {"id": mine}, other_token) == ["NOTIFICATION_NOT_FOUND"]
    assert api.error_codes(ONE, {"id": "not-an-id"}, other_token) == ["BAD_USER_INPUT"]
    assert api.error_codes(MARK, {"i": {"notificationId": mine}}, other_token) == [
        "NOTIFICATION_NOT_FOUND"
    ]
    assert api.error_codes(LIST, {"f": {"userId": str(owner.id)}}, other_token) == ["FORBIDDEN"]
    # Admins see anyone's, with delivery status.
    assert api.data(ONE, {"id": mine}, admin_token)["getNotification"]["id"] == mine
    seen = api.data(LIST, {"f": {"userId": str(owner.id)}}, admin_token)["getUserNotifications"]
    assert seen["totalCount"] == 1
    for document in (RECEIVED, READ, UNREAD):
        async with Client(transport=transport(api, other_token)) as ws:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in ws.subscribe(document, variable_values={"u": str(owner.id)}):
                    pass
            assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


def test_a_producer_with_an_unknown_type_is_refused_and_writes_nothing(api):
    user, _ = create_user(Role.STUDENT)
    with pytest.raises(ValidationFailed) as refused:
        produce(user.id, type="NOPE")
    assert refused.value.code == "UNKNOWN_NOTIFICATION_TYPE"
    with session_scope() as session:
        assert (
            session.scalars(select(Notification).where(Notification.user_id == user.id)).all() == []
        )


def test_enrolling_notifies_the_student(api):
    owner, _ = create_user(Role.EDUCATOR)
    _student, token = create_user(Role.STUDENT)
    course = make_course(owner.id, title="Rust for Pythonistas")
    enroll(api, token, course.id)
    [node] = api.data(LIST, {"f": {"type": "ENROLLMENT"}}, token)["getUserNotifications"]["nodes"]
    assert node["title"] == 'You are enrolled in "Rust for Pythonistas"'
    assert node["data"]["courseId"] == str(course.id)


def test_only_admins_delete_expired_notifications(api):
    user, token = create_user(Role.STUDENT)
    _, admin_token = create_user(Role.ADMIN)
    gone = produce(user.id, title="old", expires_in_days=1)
    kept = produce(user.id, title="fresh")
    with session_scope() as session:
        notification = session.get(Notification, gone)
        notification.expires_at = notification.created_at  # expired
    assert [n["title"] for n in api.data(LIST, {}, token)["getUserNotifications"]["nodes"]] == [
        "fresh"
    ]
    assert api.error_codes("mutation { deleteExpiredNotifications }", token=token) == ["FORBIDDEN"]
    assert (
        api.data("mutation { deleteExpiredNotifications }", token=admin_token)[
            "deleteExpiredNotifications"
        ]
        >= 1
    )
    with session_scope() as session:
        assert session.get(Notification, gone) is None and session.get(Notification, kept)
