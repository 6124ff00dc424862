"""Presence and typing: ephemeral (process memory here, Redis when configured), members only,
enter/leave batched into one broadcast per course, count-only for large courses, and a
flood of typing events from one client refused."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from lms.communication.models import Message
from lms.communication.service.live import Presence, RedisPresence
from lms.config import get_settings
from lms.db import session_scope
from tests.communication.conftest import course_with, person

PRESENCE = """query($c: ID!) { coursePresence(courseId: $c) {
  courseId count countOnly users { userId status } } }"""
BEAT = """mutation($s: PresenceStatus!, $c: ID) { updatePresence(status: $s, courseId: $c) {
  userId status courseId expiresInSeconds } }"""
START = """mutation($c: String, $t: ID) { startTyping(conversationId: $c, threadId: $t) {
  userId conversationId threadId isTyping expiresInSeconds } }"""
STOP = """mutation($c: String, $t: ID) { stopTyping(conversationId: $c, threadId: $t) {
  isTyping expiresInSeconds } }"""
SEND = (
    'mutation($r: ID!) { sendMessage(recipientId: $r, input: {content: "hi"}) { conversationId } }'
)


async def test_members_are_present_until_they_leave(api):
    course = course_with(students=2)
    first, second = course.students
    beat = (await api.data(first, BEAT, s="ONLINE", c=course.id))["updatePresence"]
    assert beat["expiresInSeconds"] == 60 and beat["courseId"] == course.id
    await api.data(second, BEAT, s="AWAY", c=course.id)
    seen = (await api.data(course.teacher, PRESENCE, c=course.id))["coursePresence"]
    assert seen["count"] == 2 and seen["countOnly"] is False
    assert {(u["userId"], u["status"]) for u in seen["users"]} == {
        (first.id, "ONLINE"),
        (second.id, "AWAY"),
    }
    await api.data(second, BEAT, s="OFFLINE", c=course.id)
    seen = (await api.data(first, PRESENCE, c=course.id))["coursePresence"]
    assert [u["userId"] for u in seen["users"]] == [first.id]

    outsider = person()
    assert await api.codes(outsider, BEAT, s="ONLINE", c=course.id) == ["NOT_COURSE_MEMBER"]
    assert await api.codes(outsider, PRESENCE, c=course.id) == ["NOT_COURSE_MEMBER"]


async def test_enter_and_leave_are_batched_and_large_courses_get_counts(monkeypatch):
    """Against Redis, shared by API processes: 300 heartbeats, one broadcast."""
    monkeypatch.setenv("LMS_COMMUNICATION_PRESENCE_COUNT_ONLY_ABOVE", "100")
    from lms.communication.settings import communication_settings

    communication_settings.cache_clear()
    settings = get_settings().model_copy(
        update={
            "redis_url": "redis://127.0.0.1:6379/0",
            "rate_limit_prefix": f"t{uuid.uuid4().hex}:",
        }
    )
    presence = Presence(settings, autoflush=False)  # this test flushes
    assert isinstance(presence.store, RedisPresence)
    course = str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(300)]
    await asyncio.gather(*(presence.update(course, user, "ONLINE") for user in users))
    await asyncio.gather(*(presence.update(course, user, "ONLINE") for user in users))  # beats
    assert await presence.flush() == 1  # one broadcast for 300 arrivals and their heartbeats
    assert await presence.flush() == 0  # heartbeats of present users are not news
    state = await presence.course(course)
    assert (state["count"], state["countOnly"], state["users"]) == (300, True, [])

    await presence.update(course, users[0], "OFFLINE")
    # A member whose heartbeat lapsed is removed by whoever sees it first, and broadcast once.
    await presence.store.beat(course, users[1], "ONLINE", ttl=-1)
    assert await presence.store.expire(course) == [users[1]]
    assert await presence.store.expire(course) == []
    assert (await presence.course(course))["count"] == 298
    monkeypatch.undo()
    communication_settings.cache_clear()


async def test_typing_is_for_members_and_a_flood_is_refused_with_nothing_stored(api):
    course = course_with(students=2)
    student, classmate = course.students
    conversation = (await api.data(student, SEND, r=classmate.id))["sendMessage"]["conversationId"]
    with session_scope() as session:
        messages_before = session.scalar(select(func.count()).select_from(Message))

    typing = (await api.data(student, START, c=conversation))["startTyping"]
    assert typing == {
        "userId": student.id,
        "conversationId": conversation,
        "threadId": None,
        "isTyping": True,
        "expiresInSeconds": 6,
    }
    assert (await api.data(student, STOP, c=conversation))["stopTyping"]["isTyping"] is False
    assert await api.codes(student, START) == ["BAD_USER_INPUT"]
    assert await api.codes(student, START, c=conversation, t=str(uuid.uuid4())) == [
        "BAD_USER_INPUT"
    ]
    assert await api.codes(person(), START, c=conversation) == ["CONVERSATION_NOT_FOUND"]
    assert await api.codes(person(), START, t=str(uuid.uuid4())) == ["THREAD_NOT_FOUND"]

    # A client sending typing events as fast as it can: after the limit (20 per 10 s, two
    # used above) every one is refused, and nothing is written anywhere.
    codes = [await api.codes(classmate, START, c=conversation) for _ in range(60)]
    assert codes[:20] == [[]] * 20
    assert codes[20:] == [["RATE_LIMITED"]] * 40
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == messages_before
