"""Live Communication over websocket (graphql-transport-ws) against a real API process: the
changes are made in this test process, so every event crosses processes through RabbitMQ.
A worker runs the announcement fan-out into the students' notifications."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Awaitable, Callable

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import select

from lms.communication.models import Announcement
from lms.db import session_scope
from tests.communication.conftest import course_with, person
from tests.support import LMS, GraphQLClient, JobWatcher, Process, start_api

RECEIVED = gql("subscription($u: ID!) { messageReceived(userId: $u) { id senderId content } }")
UPDATED = gql("""subscription($u: ID!) { conversationUpdated(userId: $u) {
  conversationId reason unreadCount } }""")
POSTS = gql("subscription($t: ID!) { newDiscussionPost(threadId: $t) { id content authorId } }")
THREAD = gql("subscription($t: ID!) { threadUpdated(threadId: $t) { id replyCount isLocked } }")
TYPING = gql("""subscription($t: ID) { typingIndicator(threadId: $t) {
  userId threadId isTyping expiresInSeconds } }""")
PRESENCE = gql("""subscription($c: ID!) { userPresence(courseId: $c) {
  courseId entered { userId status } left count } }""")
ANNOUNCED = gql("subscription($c: ID!) { announcementPublished(courseId: $c) { id title status } }")
SEND = "mutation($r: ID!, $i: MessageInput!) { sendMessage(recipientId: $r, input: $i) { id } }"
CREATE = """mutation($c: ID!, $i: CreateThreadInput!) {
  createDiscussionThread(courseId: $c, input: $i) { id } }"""
REPLY = (
    "mutation($t: ID!, $i: ReplyToThreadInput!) { replyToThread(threadId: $t, input: $i) { id } }"
)
LOCK = "mutation($t: ID!) { updateDiscussionThread(threadId: $t, input: {isLocked: true}) { id } }"
TYPE = "mutation($t: ID) { startTyping(threadId: $t) { isTyping } }"
STOP = "mutation($t: ID) { stopTyping(threadId: $t) { isTyping } }"
BEAT = (
    "mutation($s: PresenceStatus!, $c: ID) { updatePresence(status: $s, courseId: $c) { status } }"
)
ANNOUNCE = """mutation($c: ID!, $i: AnnouncementInput!) {
  createAnnouncement(courseId: $c, input: $i) { id } }"""
PUBLISH = "mutation($a: ID!) { publishAnnouncement(announcementId: $a) { id status } }"
INBOX = "{ getUserNotifications { nodes { type title data } } }"


@pytest.fixture(scope="module")
def server():
    """An API process, and a worker for the notification fan-out started beside it (the two
    start-ups overlap)."""
    worker = Process(
        [*LMS, "worker", "-Q", "notifications", "-c", "1", "-n", f"comm-{uuid.uuid4().hex[:6]}@%h"]
    )
    process, base_url = start_api()
    client = GraphQLClient(base_url)
    client.worker = worker
    yield client
    client.close()
    for child in (process, worker):  # both stop at once
        os.killpg(child.popen.pid, signal.SIGTERM)
    for child in (process, worker):
        try:
            child.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def connect(server, who) -> Client:
    return Client(
        transport=WebsocketsTransport(
            url=server.ws_url,
            init_payload={"Authorization": f"Bearer {who.token}"},
            subprotocols=["graphql-transport-ws"],
            close_timeout=1,  # the streams left open are not awaited to their end
        )
    )


async def first_events(streams, act: Callable[[int], Awaitable[object]], timeout: float = 30):
    """Act until every stream delivers its first event: a subscription binds its key
    asynchronously, so the first acts may happen before it listens (the bus does not replay)."""
    waiting = [asyncio.ensure_future(stream.__anext__()) for stream in streams]
    loop = asyncio.get_running_loop()
    deadline, attempt = loop.time() + timeout, 0
    while not all(f.done() for f in waiting) and loop.time() < deadline:
        await act(attempt)
        attempt += 1
        await asyncio.wait(waiting, timeout=0.5, return_when=asyncio.ALL_COMPLETED)
    return [await asyncio.wait_for(f, 1) for f in waiting]


async def first_event(stream, act: Callable[[int], Awaitable[object]], timeout: float = 30):
    return (await first_events([stream], act, timeout))[0]


async def refused(server, who, document, **variables) -> str:
    async with connect(server, who) as ws:
        with pytest.raises(TransportQueryError) as error:
            async for _ in ws.subscribe(document, variable_values=variables):
                pass
    return error.value.errors[0]["extensions"]["code"]


async def test_messages_reach_the_recipient_live_and_only_them(server, api):
    course = course_with(students=1)
    student, teacher = course.students[0], course.teacher
    async with connect(server, teacher) as ws:
        received = ws.subscribe(RECEIVED, variable_values={"u": teacher.id})
        updates = ws.subscribe(UPDATED, variable_values={"u": teacher.id})

        async def send(n: int):
            await api.data(student, SEND, r=teacher.id, i={"content": f"<b>Hello {n}</b>"})

        event, update = await first_events([received, updates], send)
        event, update = event["messageReceived"], update["conversationUpdated"]
        assert event["senderId"] == student.id and event["content"].startswith("<b>Hello ")
        assert update["reason"] == "NEW_MESSAGE" and update["unreadCount"] >= 1

    assert await refused(server, student, RECEIVED, u=teacher.id) == "FORBIDDEN"
    assert await refused(server, student, UPDATED, u=teacher.id) == "FORBIDDEN"


async def test_forum_posts_typing_and_presence_reach_course_members_live(server, api):
    course = course_with(students=2)
    reader, writer = course.students
    thread = await api.data(
        reader, CREATE, c=course.id, i={"title": "Recursion", "content": "Why?"}
    )
    thread_id = thread["createDiscussionThread"]["id"]
    async with connect(server, reader) as ws:
        posts = ws.subscribe(POSTS, variable_values={"t": thread_id})
        updates = ws.subscribe(THREAD, variable_values={"t": thread_id})
        typing = ws.subscribe(TYPING, variable_values={"t": thread_id})
        presence = ws.subscribe(PRESENCE, variable_values={"c": course.id})

        async def reply(n: int):
            await api.data(writer, REPLY, t=thread_id, i={"content": f"Base case {n}."})

        post, _ = await first_events([posts, updates], reply)
        post = post["newDiscussionPost"]
        assert post["authorId"] == writer.id and post["content"].startswith("Base case")
        await api.data(course.teacher, LOCK, t=thread_id)
        changed = (await asyncio.wait_for(updates.__anext__(), 30))["threadUpdated"]
        while not changed["isLocked"]:  # reply counts of the first replies come first
            changed = (await asyncio.wait_for(updates.__anext__(), 30))["threadUpdated"]
        assert changed["replyCount"] >= 1

        async def type_(n: int):  # start and stop alternate: a repeat within 3 s is dropped
            await api.data(writer, TYPE if n % 2 == 0 else STOP, t=thread_id)

        shown = (await first_event(typing, type_))["typingIndicator"]
        assert shown["userId"] == writer.id and shown["threadId"] == thread_id
        assert shown["expiresInSeconds"] == (6 if shown["isTyping"] else 0)

        # Presence is kept by the API process (its memory here): heartbeats go there.
        async def beat(n: int):
            status = "ONLINE" if n % 2 == 0 else "OFFLINE"
            server.data(BEAT, {"s": status, "c": course.id}, writer.token)

        change = (await first_event(presence, beat))["userPresence"]
        assert change["courseId"] == course.id
        assert writer.id in [u["userId"] for u in change["entered"]] + change["left"]

    outsider = person()
    assert await refused(server, outsider, POSTS, t=thread_id) == "THREAD_NOT_FOUND"
    assert await refused(server, outsider, PRESENCE, c=course.id) == "NOT_COURSE_MEMBER"
    assert await refused(server, outsider, TYPING, t=str(uuid.uuid4())) == "THREAD_NOT_FOUND"


async def test_a_published_announcement_reaches_students_live_and_in_their_inbox(server, api):
    course = course_with(students=2)
    student = course.students[0]
    server.worker.wait_for(" ready.")
    with JobWatcher() as watcher:
        async with connect(server, student) as ws:
            stream = ws.subscribe(ANNOUNCED, variable_values={"c": course.id})
            published = []

            async def publish(n: int):
                made = await api.data(
                    course.teacher,
                    ANNOUNCE,
                    c=course.id,
                    i={"title": f"News {n}", "content": "!"},
                )
                announcement = made["createAnnouncement"]["id"]
                await api.data(course.teacher, PUBLISH, a=announcement)
                published.append(announcement)

            event = (await first_event(stream, publish))["announcementPublished"]
            assert event["status"] == "PUBLISHED" and event["id"] in published
        with session_scope() as session:
            jobs = session.scalars(
                select(Announcement.fanout_job_id).where(Announcement.id.in_(published))
            ).all()
        for job in jobs:
            assert watcher.wait(job)["status"] == "SUCCEEDED"
    for member in course.students:
        inbox = (await api.data(member, INBOX))["getUserNotifications"]["nodes"]
        assert sorted(n["title"] for n in inbox) == sorted(
            f"News {n}" for n in range(len(published))
        )
        assert {n["type"] for n in inbox} == {"ANNOUNCEMENT"}
