"""Direct messages through GraphQL: who may write to whom, read receipts and unread counts,
deletion, sanitizing, attachment checks; a refused message leaves nothing behind."""

from __future__ import annotations

import base64

from lms.communication.settings import communication_settings
from lms.users.models import Role
from tests.communication.conftest import course_with, enroll_directly, person

MESSAGE = """id conversationId senderId content readAt deletedForEveryone
  attachments { fileName contentType sizeBytes url }"""
SEND = f"""mutation($r: ID!, $i: MessageInput!) {{
  sendMessage(recipientId: $r, input: $i) {{ {MESSAGE} }} }}"""
UNREAD = "{ unreadMessageCount { total byConversation { conversationId count } } }"
CONVERSATIONS = """query($p: PaginationInput) { conversations(pagination: $p) { totalCount
  pageInfo { hasNextPage endCursor }
  nodes { id kind unreadCount participants { userId } lastMessage { id content } } } }"""
MESSAGES = f"""query($c: String!, $p: PaginationInput) {{
  conversationMessages(conversationId: $c, pagination: $p) {{
  totalCount nodes {{ {MESSAGE} }} }} }}"""
READ = f"mutation($m: ID!) {{ markMessageAsRead(messageId: $m) {{ {MESSAGE} }} }}"
READ_ALL = "mutation($c: String!) { markConversationAsRead(conversationId: $c) }"
DELETE = "mutation($m: ID!) { deleteMessage(messageId: $m) { messageId deletedForEveryone } }"
BLOCK = "mutation($u: ID!) { blockUser(userId: $u) }"
UNBLOCK = "mutation($u: ID!) { unblockUser(userId: $u) }"
NOTIFICATIONS = "{ getUserNotifications { nodes { type title data } } }"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
ELF = base64.b64encode(b"\x7fELF\x02\x01\x01" + b"\x00" * 64).decode()


def text(value: str) -> dict:
    return {"content": value}


async def test_a_student_writes_to_the_instructor_who_reads_and_answers(api):
    course = course_with(students=1)
    student, teacher = course.students[0], course.teacher
    sent = await api.data(student, SEND, r=teacher.id, i=text("<p>When is the exam?</p>"))
    message = sent["sendMessage"]
    assert message["content"] == "<p>When is the exam?</p>" and message["readAt"]  # own: read
    conversation = message["conversationId"]

    unread = (await api.data(teacher, UNREAD))["unreadMessageCount"]
    assert unread == {"total": 1, "byConversation": [{"conversationId": conversation, "count": 1}]}
    listing = (await api.data(teacher, CONVERSATIONS))["conversations"]
    assert listing["totalCount"] == 1
    node = listing["nodes"][0]
    assert node["id"] == conversation and node["kind"] == "DIRECT" and node["unreadCount"] == 1
    assert {p["userId"] for p in node["participants"]} == {student.id, teacher.id}
    assert node["lastMessage"]["id"] == message["id"]
    inbox = (await api.data(teacher, NOTIFICATIONS))["getUserNotifications"]["nodes"]
    assert [n["type"] for n in inbox] == ["NEW_MESSAGE"]
    assert inbox[0]["data"]["conversationId"] == conversation

    read = (await api.data(teacher, READ, m=message["id"]))["markMessageAsRead"]
    assert read["readAt"] is not None
    assert (await api.data(teacher, UNREAD))["unreadMessageCount"]["total"] == 0

    # The answer goes into the same conversation; reading the whole conversation marks it.
    for words in ("Friday.", "At nine."):
        answer = (await api.data(teacher, SEND, r=student.id, i=text(words)))["sendMessage"]
        assert answer["conversationId"] == conversation
    assert (await api.data(student, READ_ALL, c=conversation))["markConversationAsRead"] == 2
    assert (await api.data(student, READ_ALL, c=conversation))["markConversationAsRead"] == 0
    history = (await api.data(student, MESSAGES, c=conversation))["conversationMessages"]
    assert history["totalCount"] == 3
    assert [m["content"] for m in history["nodes"]] == [
        "At nine.",
        "Friday.",
        "<p>When is the exam?</p>",
    ]  # newest first
    page = await api.data(student, MESSAGES, c=conversation, p={"first": 2})
    assert len(page["conversationMessages"]["nodes"]) == 2


async def test_who_may_write_to_whom(api):
    course = course_with(students=2)
    student, classmate, teacher = *course.students, course.teacher
    stranger, admin = person(), person(Role.ADMIN)

    assert await api.codes(student, SEND, r=stranger.id, i=text("hi")) == ["MESSAGING_NOT_ALLOWED"]
    assert await api.codes(student, SEND, r=student.id, i=text("hi")) == ["INVALID_RECIPIENT"]
    missing = "00000000-0000-4000-8000-000000000000"
    assert await api.codes(student, SEND, r=missing, i=text("hi")) == ["USER_NOT_FOUND"]
    assert await api.data(student, SEND, r=classmate.id, i=text("notes?"))  # classmates: allowed
    assert await api.data(teacher, SEND, r=classmate.id, i=text("see me"))
    # An admin writes to anyone, and whoever was written to may answer.
    assert await api.data(admin, SEND, r=stranger.id, i=text("welcome"))
    assert await api.data(stranger, SEND, r=admin.id, i=text("thanks"))

    # A block stops messages both ways, until it is lifted.
    assert (await api.data(classmate, BLOCK, u=student.id))["blockUser"] is True
    assert await api.codes(student, SEND, r=classmate.id, i=text("?")) == ["USER_BLOCKED"]
    assert await api.codes(classmate, SEND, r=student.id, i=text("?")) == ["USER_BLOCKED"]
    assert (await api.data(classmate, UNBLOCK, u=student.id))["unblockUser"] is True
    assert await api.data(student, SEND, r=classmate.id, i=text("sorry"))


async def test_bad_messages_are_refused_whole_and_scripts_never_survive(api):
    course = course_with(students=1)
    student, teacher = course.students[0], course.teacher
    cases = {
        "TOO_LONG": text("x" * 10_001),
        "EMPTY_CONTENT": text("<script>alert(1)</script>  "),
        "ATTACHMENT_NOT_ALLOWED": {
            "content": "my homework",
            "attachments": [
                {"fileName": "homework.pdf", "contentType": "application/pdf", "data": ELF}
            ],
        },
        "ATTACHMENT_TOO_LARGE": {
            "content": "big",
            "attachments": [
                {
                    "fileName": "big.png",
                    "contentType": "image/png",
                    "data": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 6_000_000).decode(),
                }
            ],
        },
    }
    for code, payload in cases.items():
        assert await api.codes(student, SEND, r=teacher.id, i=payload) == [code], code
    # Nothing half-written: no conversation, no unread message, no notification.
    assert (await api.data(student, CONVERSATIONS))["conversations"]["totalCount"] == 0
    assert (await api.data(teacher, UNREAD))["unreadMessageCount"]["total"] == 0
    assert (await api.data(teacher, NOTIFICATIONS))["getUserNotifications"]["nodes"] == []

    payload = {
        "content": '<p onclick="steal()">Look <script>alert(1)</script>'
        '<a href="javascript:x">here</a></p>',
        "attachments": [{"fileName": "diagram.png", "contentType": "image/png", "data": PNG}],
    }
    message = (await api.data(student, SEND, r=teacher.id, i=payload))["sendMessage"]
    assert "script" not in message["content"] and "onclick" not in message["content"]
    assert "javascript" not in message["content"] and "Look" in message["content"]
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "image/png" and attachment["sizeBytes"] == 72
    assert attachment["url"].startswith("http")


async def test_deleting_for_everyone_or_for_oneself(api):
    course = course_with(students=1)
    student, teacher = course.students[0], course.teacher
    first = (await api.data(student, SEND, r=teacher.id, i=text("oops")))["sendMessage"]
    second = (await api.data(student, SEND, r=teacher.id, i=text("keep")))["sendMessage"]
    conversation = first["conversationId"]

    gone = (await api.data(student, DELETE, m=first["id"]))["deleteMessage"]
    assert gone == {"messageId": first["id"], "deletedForEveryone": True}
    seen = (await api.data(teacher, MESSAGES, c=conversation))["conversationMessages"]["nodes"]
    by_id = {m["id"]: m for m in seen}
    assert by_id[first["id"]]["deletedForEveryone"] and by_id[first["id"]]["content"] == ""
    assert (await api.data(teacher, UNREAD))["unreadMessageCount"]["total"] == 1  # only "keep"

    # The recipient deletes for themself only: the sender still has it.
    mine = (await api.data(teacher, DELETE, m=second["id"]))["deleteMessage"]
    assert mine["deletedForEveryone"] is False
    teacher_view = (await api.data(teacher, MESSAGES, c=conversation))["conversationMessages"]
    assert second["id"] not in {m["id"] for m in teacher_view["nodes"]}
    student_view = (await api.data(student, MESSAGES, c=conversation))["conversationMessages"]
    assert second["id"] in {m["id"] for m in student_view["nodes"]}
    assert (await api.data(teacher, UNREAD))["unreadMessageCount"]["total"] == 0

    outsider = person()
    assert await api.codes(outsider, DELETE, m=second["id"]) == ["MESSAGE_NOT_FOUND"]
    assert await api.codes(outsider, READ, m=second["id"]) == ["MESSAGE_NOT_FOUND"]
    assert await api.codes(outsider, READ_ALL, c=conversation) == ["CONVERSATION_NOT_FOUND"]
    assert await api.codes(outsider, MESSAGES, c="not-an-id") == ["CONVERSATION_NOT_FOUND"]


GROUP = f"""mutation($c: ID!, $p: [ID!]!, $i: MessageInput!) {{
  createGroupConversation(courseId: $c, participantIds: $p, input: $i) {{ {MESSAGE} }} }}"""
TO = f"""mutation($c: String!, $i: MessageInput!) {{
  sendToConversation(conversationId: $c, input: $i) {{ {MESSAGE} }} }}"""


async def test_a_study_group_within_a_course(api, monkeypatch):
    course = course_with(students=3)
    me, first, second = course.students
    teacher, stranger = course.teacher, person()

    started = await api.data(me, GROUP, c=course.id, p=[first.id, second.id], i=text("Study?"))
    group = started["createGroupConversation"]["conversationId"]
    for member in (first, second):
        unread = (await api.data(member, UNREAD))["unreadMessageCount"]
        assert unread["byConversation"] == [{"conversationId": group, "count": 1}]
        [node] = (await api.data(member, CONVERSATIONS))["conversations"]["nodes"]
        assert node["kind"] == "GROUP" and node["lastMessage"]["content"] == "Study?"
        assert {p["userId"] for p in node["participants"]} == {me.id, first.id, second.id}
        inbox = (await api.data(member, NOTIFICATIONS))["getUserNotifications"]["nodes"]
        assert [n["type"] for n in inbox] == ["NEW_MESSAGE"]

    # Every member writes to the group by its id; the others count it unread.
    assert await api.data(first, TO, c=group, i=text("Tuesday works"))
    assert (await api.data(me, UNREAD))["unreadMessageCount"]["total"] == 1
    assert (await api.data(second, UNREAD))["unreadMessageCount"]["total"] == 2
    history = (await api.data(second, MESSAGES, c=group))["conversationMessages"]
    assert [m["content"] for m in history["nodes"]] == ["Tuesday works", "Study?"]
    assert await api.codes(stranger, TO, c=group, i=text("hi")) == ["CONVERSATION_NOT_FOUND"]
    assert await api.codes(teacher, MESSAGES, c=group) == ["CONVERSATION_NOT_FOUND"]

    # Who may be in a group, and how many.
    assert await api.codes(me, GROUP, c=course.id, p=[first.id, stranger.id], i=text("x")) == [
        "MESSAGING_NOT_ALLOWED"
    ]
    assert await api.codes(stranger, GROUP, c=course.id, p=[me.id, first.id], i=text("x")) == [
        "NOT_COURSE_MEMBER"
    ]
    assert await api.codes(me, GROUP, c=course.id, p=[first.id, me.id], i=text("x")) == [
        "BAD_USER_INPUT"
    ]  # yourself does not count: that is one other person
    await api.data(second, BLOCK, u=me.id)
    assert await api.codes(me, GROUP, c=course.id, p=[first.id, second.id], i=text("x")) == [
        "USER_BLOCKED"
    ]
    monkeypatch.setenv("LMS_COMMUNICATION_GROUP_MAX_MEMBERS", "3")
    communication_settings.cache_clear()
    try:
        everyone = [me.id, first.id, second.id]  # four with the teacher
        assert await api.codes(teacher, GROUP, c=course.id, p=everyone, i=text("x")) == [
            "GROUP_TOO_LARGE"
        ]
        monkeypatch.setenv("LMS_COMMUNICATION_STUDENTS_MAY_MESSAGE_CLASSMATES", "false")
        communication_settings.cache_clear()
        assert await api.codes(first, GROUP, c=course.id, p=[teacher.id, me.id], i=text("x")) == [
            "MESSAGING_NOT_ALLOWED"
        ]
        # Instructors still start groups; refusals above left no conversation behind.
        assert await api.data(teacher, GROUP, c=course.id, p=[first.id, me.id], i=text("Office"))
        listed = (await api.data(first, CONVERSATIONS))["conversations"]["nodes"]
        assert [n["kind"] for n in listed] == ["GROUP", "GROUP"]
    finally:
        monkeypatch.undo()
        communication_settings.cache_clear()


RULE = """mutation($c: ID!, $allow: Boolean) {
  updateCourseMessagingSettings(courseId: $c, studentsMayMessageClassmates: $allow) {
  courseId studentsMayMessageClassmates followsDefault } }"""
READ_RULE = """query($c: ID!) { courseMessagingSettings(courseId: $c) {
  studentsMayMessageClassmates followsDefault } }"""


async def test_a_course_sets_its_own_rule_for_classmates(api, monkeypatch):
    course = course_with(students=3)
    student, classmate, third = course.students
    teacher = course.teacher
    shown = (await api.data(student, READ_RULE, c=course.id))["courseMessagingSettings"]
    assert shown == {"studentsMayMessageClassmates": True, "followsDefault": True}

    closed = await api.data(teacher, RULE, c=course.id, allow=False)
    assert closed["updateCourseMessagingSettings"] == {
        "courseId": course.id, "studentsMayMessageClassmates": False, "followsDefault": False,
    }  # fmt: skip
    assert await api.codes(student, SEND, r=classmate.id, i=text("hi")) == ["MESSAGING_NOT_ALLOWED"]
    trio = [classmate.id, third.id]
    assert await api.codes(student, GROUP, c=course.id, p=trio, i=text("x")) == [
        "MESSAGING_NOT_ALLOWED"
    ]
    assert await api.data(student, SEND, r=teacher.id, i=text("still you"))  # instructors: yes
    assert await api.data(teacher, GROUP, c=course.id, p=[student.id, classmate.id], i=text("o"))
    assert await api.codes(student, RULE, c=course.id, allow=True) == ["FORBIDDEN"]
    missing = "00000000-0000-4000-8000-000000000000"  # admins too: only courses that exist
    assert await api.codes(person(Role.ADMIN), RULE, c=missing, allow=False) == [
        "NOT_COURSE_MEMBER"
    ]

    # Sharing another course that allows it is enough.
    other = course_with(students=0)
    for member in (student, classmate):
        enroll_directly(member.user.id, other.id)
    assert await api.data(student, SEND, r=classmate.id, i=text("from the other course"))

    # A deployment that forbids it by default; a course may still allow it.
    monkeypatch.setenv("LMS_COMMUNICATION_STUDENTS_MAY_MESSAGE_CLASSMATES", "false")
    communication_settings.cache_clear()
    try:
        assert await api.codes(third, SEND, r=student.id, i=text("hi")) == ["MESSAGING_NOT_ALLOWED"]
        opened = await api.data(teacher, RULE, c=course.id, allow=True)
        assert opened["updateCourseMessagingSettings"]["studentsMayMessageClassmates"] is True
        assert await api.data(third, SEND, r=student.id, i=text("now I may"))
        back = await api.data(teacher, RULE, c=course.id, allow=None)
        assert back["updateCourseMessagingSettings"] == {
            "courseId": course.id, "studentsMayMessageClassmates": False, "followsDefault": True,
        }  # fmt: skip
    finally:
        monkeypatch.undo()
        communication_settings.cache_clear()
