"""Communication on the embedded default (`lms up` in a clean folder: SQLite, the in-process
event bus and presence in memory): a message reaches its recipient live with its unread
count, a forum question is answered and solved, presence is seen, as on PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.communication.test_communication_live_ws import (
    BEAT,
    CREATE,
    RECEIVED,
    REPLY,
    SEND,
    connect,
    first_event,
)
from tests.support import Embedded, GraphQLClient

SEED = """
import json
from tests.communication.conftest import course_with
course = course_with(students=2)
people = [course.teacher, *course.students]
print(json.dumps({"course": course.id, "people": [[p.id, p.token] for p in people]}))
"""
UNREAD = "{ unreadMessageCount { total byConversation { conversationId count } } }"
READ_ALL = "mutation($c: String!) { markConversationAsRead(conversationId: $c) }"
VOTE = "mutation($p: ID!) { votePost(postId: $p, voteType: UPVOTE) { score } }"
SOLVE = "mutation($p: ID!) { markSolution(postId: $p) { solutionPostId replyCount } }"
PRESENT = "query($c: ID!) { coursePresence(courseId: $c) { count users { userId status } } }"


class Member:
    def __init__(self, id: str, token: str) -> None:
        self.id, self.token = id, token


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """`lms up` in a clean folder, and a course seeded in its database."""
    stack = Embedded(tmp_path_factory.mktemp("clean-folder"))
    made = json.loads(stack.python(SEED))
    client = GraphQLClient(stack.base_url)
    client.course = made["course"]
    client.people = [Member(*pair) for pair in made["people"]]
    yield client
    client.close()
    stack.stop()


async def test_a_message_arrives_live_and_is_counted_unread_on_sqlite(embedded):
    _, sender, recipient = embedded.people
    async with connect(embedded, recipient) as ws:
        stream = ws.subscribe(RECEIVED, variable_values={"u": recipient.id})

        async def send(n: int):
            embedded.data(SEND, {"r": recipient.id, "i": {"content": f"Hi {n}"}}, sender.token)

        event = (await first_event(stream, send))["messageReceived"]
    assert event["senderId"] == sender.id and event["content"].startswith("Hi ")
    unread = embedded.data(UNREAD, token=recipient.token)["unreadMessageCount"]
    [conversation] = unread["byConversation"]
    assert unread["total"] == conversation["count"] >= 1
    marked = embedded.data(READ_ALL, {"c": conversation["conversationId"]}, recipient.token)
    assert marked["markConversationAsRead"] == conversation["count"]
    assert embedded.data(UNREAD, token=recipient.token)["unreadMessageCount"]["total"] == 0


def test_a_forum_question_is_answered_voted_and_solved_and_presence_is_seen_on_sqlite(embedded):
    teacher, asker, helper = embedded.people
    question = {"title": "Closures?", "content": "Why does it remember?"}
    thread = embedded.data(CREATE, {"c": embedded.course, "i": question}, asker.token)
    thread_id = thread["createDiscussionThread"]["id"]
    answer = embedded.data(REPLY, {"t": thread_id, "i": {"content": "Scope."}}, helper.token)
    post_id = answer["replyToThread"]["id"]
    assert embedded.data(VOTE, {"p": post_id}, asker.token)["votePost"]["score"] == 1
    solved = embedded.data(SOLVE, {"p": post_id}, asker.token)["markSolution"]
    assert solved == {"solutionPostId": post_id, "replyCount": 1}
    assert embedded.error_codes(SOLVE, {"p": post_id}, helper.token) == ["NOT_THREAD_AUTHOR"]

    embedded.data(BEAT, {"s": "ONLINE", "c": embedded.course}, helper.token)
    present = embedded.data(PRESENT, {"c": embedded.course}, teacher.token)["coursePresence"]
    assert {"userId": helper.id, "status": "ONLINE"} in present["users"]
    assert present["count"] >= 1
