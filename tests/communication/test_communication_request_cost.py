"""What a direct message costs over HTTP: one database connection per request, and a fixed
set of statements once the conversation exists, whatever the conversation's length."""

from __future__ import annotations

from tests.communication.conftest import course_with
from tests.http_api import running_api

SEND = """mutation($r: ID!, $i: MessageInput!) {
  sendMessage(recipientId: $r, input: $i) { id conversationId content } }"""
UNREAD = "{ unreadMessageCount { total } }"
# The viewer; both members; block and shared course in one; the conversation touched; the
# message and its two receipts; the recipient's notification (one set-wise statement:
# preferences, insert, unread count; the queue-drain check, the sending job and its event,
# the delivery; its id read back by `notify`); the live unread counts.
STATEMENTS_PER_MESSAGE = 13


async def test_a_message_takes_one_connection_and_a_fixed_set_of_statements():
    course = course_with(students=2)
    sender, recipient = course.students
    async with running_api() as api:
        first = await api.data(SEND, {"r": recipient.id, "i": {"content": "one"}}, sender.token)
        assert api.checkouts == 1
        counts = []
        for n in range(3):
            variables = {"r": recipient.id, "i": {"content": f"<b>more {n}</b>"}}
            sent = (await api.data(SEND, variables, sender.token))["sendMessage"]
            assert sent["conversationId"] == first["sendMessage"]["conversationId"]
            assert sent["content"] == f"<b>more {n}</b>"
            assert api.checkouts == 1
            counts.append(len(api.statements))
        assert counts == [STATEMENTS_PER_MESSAGE] * 3, api.statements
        assert sum(s.startswith("INSERT INTO message_receipts") for s in api.statements) == 1
        unread = (await api.data(UNREAD, token=recipient.token))["unreadMessageCount"]
        assert unread["total"] == 4
