"""Course forums through GraphQL: members only, replies with quotes, edit history, one
changeable vote per user, accepted answers apart from endorsements, moderation, flags,
sanitizing, and Discourse-like posting limits."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from lms.analytics.models import LearningEvent
from lms.communication.settings import communication_settings
from lms.db import session_scope
from lms.users.models import Role
from tests.communication.conftest import course_with, person

POST = """id threadId authorId parentId content score upvotes downvotes myVote isSolution
  isEndorsed isHidden editedAt isDeleted revisions { content editorId }"""
THREAD = f"""id courseId lessonId title category isPinned isLocked isClosed solutionPostId
  replyCount
  openingPost {{ {POST} }} posts {{ {POST} }}"""
CREATE = f"""mutation($c: ID!, $i: CreateThreadInput!) {{
  createDiscussionThread(courseId: $c, input: $i) {{ {THREAD} }} }}"""
UPDATE = f"""mutation($t: ID!, $i: UpdateThreadInput!) {{
  updateDiscussionThread(threadId: $t, input: $i) {{ {THREAD} }} }}"""
DELETE_THREAD = "mutation($t: ID!) { deleteDiscussionThread(threadId: $t) }"
REPLY = f"""mutation($t: ID!, $i: ReplyToThreadInput!) {{
  replyToThread(threadId: $t, input: $i) {{ {POST} }} }}"""
EDIT = (
    f"mutation($p: ID!, $i: UpdatePostInput!) {{ updatePost(postId: $p, input: $i) {{ {POST} }} }}"
)
DELETE_POST = "mutation($p: ID!) { deletePost(postId: $p) }"
VOTE = f"mutation($p: ID!, $v: VoteType!) {{ votePost(postId: $p, voteType: $v) {{ {POST} }} }}"
SOLVE = f"mutation($p: ID!) {{ markSolution(postId: $p) {{ {THREAD} }} }}"
FLAG = f'mutation($p: ID!) {{ flagPost(postId: $p, reason: "spam") {{ {POST} }} }}'
THREADS = f"""query($c: ID!, $f: ThreadFilter, $p: PaginationInput) {{
  discussionThreads(courseId: $c, filter: $f, pagination: $p) {{ totalCount
  pageInfo {{ hasNextPage endCursor }} nodes {{ {THREAD} }} }} }}"""
QUEUE = """query($c: ID!) { flaggedPosts(courseId: $c) { totalCount
  nodes { threadTitle flagCount flags { userId reason } post { id isHidden content } } } }"""
NOTIFICATIONS = "{ getUserNotifications { nodes { type data } } }"


def thread_input(title="How do closures work?", **extra) -> dict:
    return {"title": title, "content": f"<p>{title} I am stuck.</p>", **extra}


async def test_a_question_is_answered_voted_on_and_solved(api):
    course = course_with(students=3)
    asker, helper, voter = course.students
    teacher = course.teacher
    created = await api.data(asker, CREATE, c=course.id, i=thread_input(lessonId=course.lessons[0]))
    thread = created["createDiscussionThread"]
    assert thread["lessonId"] == course.lessons[0] and thread["category"] == "general"
    opening = thread["openingPost"]

    mention = {"content": "<p>Use a <code>nonlocal</code>.</p>", "parentPostId": opening["id"],
               "mentionedUserIds": [voter.id]}  # fmt: skip
    answer = (await api.data(helper, REPLY, t=thread["id"], i=mention))["replyToThread"]
    assert answer["parentId"] == opening["id"] and answer["score"] == 0
    nested = {
        "content": "<blockquote>nonlocal</blockquote><p>Why?</p>",
        "parentPostId": answer["id"],
    }
    await api.data(asker, REPLY, t=thread["id"], i=nested)

    # One vote per user per post: voting again changes it, NONE takes it back.
    assert (await api.data(voter, VOTE, p=answer["id"], v="UPVOTE"))["votePost"]["score"] == 1
    again = (await api.data(voter, VOTE, p=answer["id"], v="UPVOTE"))["votePost"]
    assert (again["score"], again["upvotes"], again["myVote"]) == (1, 1, "UPVOTE")
    changed = (await api.data(voter, VOTE, p=answer["id"], v="DOWNVOTE"))["votePost"]
    assert (changed["score"], changed["upvotes"], changed["downvotes"]) == (-1, 0, 1)
    await api.data(voter, VOTE, p=answer["id"], v="NONE")
    assert (await api.data(asker, VOTE, p=answer["id"], v="UPVOTE"))["votePost"]["score"] == 1
    assert await api.codes(helper, VOTE, p=answer["id"], v="UPVOTE") == ["OWN_POST"]

    # Only the asker (or an instructor) accepts an answer; endorsement is apart from it.
    assert await api.codes(voter, SOLVE, p=answer["id"]) == ["NOT_THREAD_AUTHOR"]
    solved = (await api.data(asker, SOLVE, p=answer["id"]))["markSolution"]
    assert solved["solutionPostId"] == answer["id"] and solved["replyCount"] == 2
    assert [p["isSolution"] for p in solved["posts"]] == [True, False]
    endorsed = (await api.data(teacher, EDIT, p=answer["id"], i={"isEndorsed": True}))["updatePost"]
    assert endorsed["isEndorsed"] and endorsed["isSolution"]
    assert await api.codes(helper, EDIT, p=answer["id"], i={"isEndorsed": True}) == ["FORBIDDEN"]

    # Edits keep their history.
    edited = await api.data(helper, EDIT, p=answer["id"], i={"content": "<p>Use nonlocal x.</p>"})
    post = edited["updatePost"]
    assert post["editedAt"] and post["revisions"] == [
        {"content": "<p>Use a <code>nonlocal</code>.</p>", "editorId": helper.id}
    ]

    # The asker hears of replies, the mentioned classmate of the mention.
    asked = (await api.data(asker, NOTIFICATIONS))["getUserNotifications"]["nodes"]
    assert [n["type"] for n in asked] == ["REPLY"] and asked[0]["data"]["postId"] == answer["id"]
    mentioned = (await api.data(voter, NOTIFICATIONS))["getUserNotifications"]["nodes"]
    assert [n["type"] for n in mentioned] == ["MENTION"]
    helped = (await api.data(helper, NOTIFICATIONS))["getUserNotifications"]["nodes"]
    assert [n["type"] for n in helped] == ["REPLY"]  # the nested quote replied to them

    # The opening post and both replies are learning events (analytics counts forum posts).
    with session_scope() as session:
        posted = session.execute(
            select(LearningEvent.actor_id, LearningEvent.object_type).where(
                LearningEvent.verb == "commented",
                LearningEvent.course_id == uuid.UUID(course.id),
            )
        ).all()
    assert sorted((str(a), t) for a, t in posted) == sorted(
        [
            (asker.id, "discussion_thread"),
            (helper.id, "discussion_post"),
            (asker.id, "discussion_post"),
        ]
    )


async def test_only_members_see_the_forum_and_instructors_moderate(api):
    course = course_with(students=1)
    student, teacher, outsider = course.students[0], course.teacher, person()
    assert await api.codes(outsider, THREADS, c=course.id) == ["NOT_COURSE_MEMBER"]
    assert await api.codes(outsider, CREATE, c=course.id, i=thread_input()) == ["NOT_COURSE_MEMBER"]
    assert await api.codes(student, CREATE, c=course.id, i=thread_input(isPinned=True)) == [
        "FORBIDDEN"
    ]
    thread = (await api.data(student, CREATE, c=course.id, i=thread_input()))[
        "createDiscussionThread"
    ]
    assert await api.codes(outsider, REPLY, t=thread["id"], i={"content": "hi"}) == [
        "THREAD_NOT_FOUND"
    ]
    assert await api.codes(student, UPDATE, t=thread["id"], i={"isLocked": True}) == ["FORBIDDEN"]

    pinned = thread_input("Read me first", category="Admin")
    notice = (await api.data(teacher, CREATE, c=course.id, i=pinned))["createDiscussionThread"]
    await api.data(teacher, UPDATE, t=notice["id"], i={"isPinned": True})
    listing = (await api.data(student, THREADS, c=course.id))["discussionThreads"]
    assert [t["title"] for t in listing["nodes"]] == ["Read me first", "How do closures work?"]
    only = await api.data(student, THREADS, c=course.id, f={"category": "admin"})
    assert only["discussionThreads"]["totalCount"] == 1
    first = await api.data(student, THREADS, c=course.id, p={"first": 1})
    rest = await api.data(
        student,
        THREADS,
        c=course.id,
        p={"first": 1, "after": first["discussionThreads"]["pageInfo"]["endCursor"]},
    )
    assert [t["title"] for t in rest["discussionThreads"]["nodes"]] == ["How do closures work?"]

    # Locked: no replies from students; closed too; instructors still may.
    locked = await api.data(teacher, UPDATE, t=thread["id"], i={"isLocked": True})
    assert locked["updateDiscussionThread"]["isLocked"]
    assert await api.codes(student, REPLY, t=thread["id"], i={"content": "but"}) == [
        "THREAD_LOCKED"
    ]
    await api.data(teacher, REPLY, t=thread["id"], i={"content": "Locked: see the notes."})
    await api.data(teacher, UPDATE, t=thread["id"], i={"isLocked": False, "isClosed": True})
    assert await api.codes(student, REPLY, t=thread["id"], i={"content": "ok"}) == ["THREAD_CLOSED"]

    assert (await api.data(teacher, DELETE_THREAD, t=thread["id"]))["deleteDiscussionThread"]
    titles = [
        t["title"]
        for t in (await api.data(student, THREADS, c=course.id))["discussionThreads"]["nodes"]
    ]
    assert titles == ["Read me first"]


async def test_flags_hide_a_post_until_an_instructor_decides_and_scripts_never_survive(api):
    course = course_with(students=4)
    author, *flaggers = course.students
    teacher = course.teacher
    thread = await api.data(teacher, CREATE, c=course.id, i=thread_input("Introductions"))
    thread_id = thread["createDiscussionThread"]["id"]
    dirty = {"content": '<p>Hi<script>alert(1)</script><img src=x onerror="steal()"></p>'}
    post = (await api.data(author, REPLY, t=thread_id, i=dirty))["replyToThread"]
    assert "script" not in post["content"] and "onerror" not in post["content"]
    assert post["content"].startswith("<p>Hi")

    for index, flagger in enumerate(flaggers):
        flagged = (await api.data(flagger, FLAG, p=post["id"]))["flagPost"]
        assert flagged["isHidden"] is (index == 2)  # the third distinct flag hides it
        again = (await api.data(flagger, FLAG, p=post["id"]))["flagPost"]  # counted once
        assert again["isHidden"] is (index == 2)
    seen = (await api.data(flaggers[0], THREADS, c=course.id))["discussionThreads"]["nodes"][0]
    assert seen["posts"][0]["isHidden"] and seen["posts"][0]["content"] == ""

    # The review queue: instructors see what was flagged, most flagged first, with reasons.
    opening = thread["createDiscussionThread"]["openingPost"]["id"]
    await api.data(flaggers[0], FLAG, p=opening)
    queue = (await api.data(teacher, QUEUE, c=course.id))["flaggedPosts"]
    assert queue["totalCount"] == 2
    first, second = queue["nodes"]
    assert (first["post"]["id"], first["flagCount"], first["post"]["isHidden"]) == (
        post["id"], 3, True,
    )  # fmt: skip
    assert first["post"]["content"].startswith("<p>Hi")  # the instructor reads what to decide on
    assert sorted(f["userId"] for f in first["flags"]) == sorted(f.id for f in flaggers)
    assert {f["reason"] for f in first["flags"]} == {"spam"}
    assert first["threadTitle"] == "Introductions"
    assert (second["post"]["id"], second["flagCount"], second["post"]["isHidden"]) == (
        opening, 1, False,
    )  # fmt: skip
    assert await api.codes(flaggers[0], QUEUE, c=course.id) == ["FORBIDDEN"]

    kept = (await api.data(teacher, EDIT, p=post["id"], i={"isHidden": False}))["updatePost"]
    assert kept["isHidden"] is False and kept["content"].startswith("<p>Hi")
    left = (await api.data(teacher, QUEUE, c=course.id))["flaggedPosts"]["nodes"]
    assert [n["post"]["id"] for n in left] == [opening]  # a kept post leaves the queue
    assert await api.codes(author, FLAG, p=post["id"]) == ["OWN_POST"]

    # Deleting a reply; the opening post goes with its thread only.
    assert (await api.data(author, DELETE_POST, p=post["id"]))["deletePost"] is True
    assert await api.codes(teacher, DELETE_POST, p=opening) == ["BAD_USER_INPUT"]
    assert await api.codes(flaggers[0], DELETE_POST, p=opening) == ["FORBIDDEN"]


async def test_posting_limits_like_discourse(api, posting_limits, monkeypatch):
    course = course_with(students=1)
    student = course.students[0]  # a new account: the longer interval and the lower cap
    thread = await api.data(course.teacher, CREATE, c=course.id, i=thread_input("Q&A"))
    thread_id = thread["createDiscussionThread"]["id"]
    await api.data(student, REPLY, t=thread_id, i={"content": "First!"})
    result = await api.execute(student, REPLY, t=thread_id, i={"content": "Second"})
    [error] = result["errors"]
    assert error["extensions"]["code"] == "POSTING_TOO_FAST"
    assert 1 <= error["extensions"]["retryAfter"] <= 31
    assert await api.codes(student, REPLY, t=thread_id, i={"content": "first! "}) == [
        "DUPLICATE_POST"
    ]
    # Instructors moderate and are not held back.
    for words in ("One", "Two", "Three"):
        await api.data(course.teacher, REPLY, t=thread_id, i={"content": words})
    # The daily cap: a tenth of it for new accounts (here 20 / 10 = 2 posts).
    posting_limits_off = {"LMS_COMMUNICATION_NEW_USER_POST_INTERVAL_SECONDS": "0"}
    for name, value in {**posting_limits_off, "LMS_COMMUNICATION_POSTS_PER_DAY": "20"}.items():
        monkeypatch.setenv(name, value)
    communication_settings.cache_clear()
    await api.data(student, REPLY, t=thread_id, i={"content": "Second"})
    assert await api.codes(student, REPLY, t=thread_id, i={"content": "Third"}) == [
        "DAILY_POST_LIMIT"
    ]
    listing = (await api.data(person(Role.ADMIN), THREADS, c=course.id))["discussionThreads"]
    assert listing["nodes"][0]["replyCount"] == 5  # nothing refused was written
