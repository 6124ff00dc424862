"""A transaction's live events (`lms.events.ordered`) reach the API's hub after the commit, in
commit order, across topics; a rolled-back transaction publishes nothing, and the session's
next transaction publishes only its own events."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from lms.config import get_settings
from lms.db import sync_sessionmaker
from lms.events.ordered import publish_after_commit
from lms.events.topics import CONVERSATION_UPDATED, MESSAGE_RECEIVED
from web.events import EventHub


def message(n: int) -> dict:
    return {"userId": "ordered-ada", "id": str(n)}


def write(transactions: list[tuple[list[tuple], bool]]) -> None:
    """Transactions one after another in one session: (events, commit or roll back)."""
    with sync_sessionmaker()() as session:
        for batches, commit in transactions:
            session.execute(text("SELECT 1"))  # a transaction is open
            for topic, payloads in batches:
                publish_after_commit(session, topic, payloads)
            session.commit() if commit else session.rollback()


def conversation(n: int) -> dict:
    return {"userId": "ordered-ada", "conversationId": str(n)}


async def test_events_arrive_after_commit_in_order_and_rollbacks_send_nothing():
    hub = EventHub(get_settings())
    await hub.start()
    try:
        async with (
            hub.listen(MESSAGE_RECEIVED, "ordered-ada") as messages,
            hub.listen(CONVERSATION_UPDATED, "ordered-ada") as conversations,
        ):
            # A burst: 300 messages in three transactions, each with its conversation
            # update, after a rolled-back one in the same session.
            transactions = [([(MESSAGE_RECEIVED, [message(-1)])], False)]
            for start in range(0, 300, 100):
                batches = [
                    (MESSAGE_RECEIVED, [message(n) for n in range(start, start + 100)]),
                    (CONVERSATION_UPDATED, [conversation(start)]),
                ]
                transactions.append((batches, True))
            await asyncio.to_thread(write, transactions)
            async with asyncio.timeout(30):
                seen = [(await messages.get())["id"] for _ in range(300)]
                updates = [(await conversations.get())["conversationId"] for _ in range(3)]
            assert seen == [str(n) for n in range(300)]
            assert updates == ["0", "100", "200"]
            assert messages.empty() and conversations.empty()
    finally:
        await hub.stop()
