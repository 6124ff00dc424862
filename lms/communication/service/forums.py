"""Course forums: threads, replies with nested quotes, edit history, votes, accepted answers,
endorsements, flags, moderation (pin, lock, close) and Discourse-like posting limits.

The thread's text is its opening post, so editing, voting and flagging work the same on it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.analytics.service import record
from lms.communication import access, errors, events
from lms.communication.access import CourseRole
from lms.communication.models import (
    DiscussionPost,
    DiscussionThread,
    PostFlag,
    PostRevision,
    PostVote,
)
from lms.communication.service.paging import keyset_page
from lms.communication.service.views import connection_view, iso, post_view, thread_view
from lms.communication.settings import communication_settings
from lms.courses import access as courses
from lms.errors import Forbidden, ValidationFailed
from lms.models import utcnow
from lms.notifications import service as notifications
from lms.sanitize import plain_text, rich_text, visible_text
from lms.security import Viewer, require_authenticated
from lms.users import service as users

REPLIES_SHOWN = 100
VOTES = {"UPVOTE": 1, "DOWNVOTE": -1, "NONE": 0}


# --- checks -------------------------------------------------------------------------------------


def _title(raw: Any) -> str:
    title = plain_text(raw)
    if not title:
        raise errors.empty("title")
    if len(title) > 300:
        raise errors.too_long("title", 300)
    return title


def _category(raw: Any) -> str:
    category = plain_text(raw).lower() or "general"
    if len(category) > 60:
        raise errors.too_long("category", 60)
    return category


def _body(raw: Any) -> str:
    limit = communication_settings().post_max_chars
    if raw is not None and len(raw) > limit:
        raise errors.too_long("content", limit)
    html = rich_text(raw)  # scripts, styles and handlers never survive
    if not visible_text(html):
        raise errors.empty("content")
    return html


def _digest(html: str) -> str:
    return hashlib.sha256(visible_text(html).lower().encode()).hexdigest()


def _check_posting_limits(session: Session, me: uuid.UUID, role: CourseRole, digest: str) -> None:
    """Discourse's limits: time between posts (longer for new accounts), no same text twice
    within a window, a daily cap (a tenth for new accounts). Moderators are exempt."""
    if access.moderates(role):
        return
    settings = communication_settings()
    now = utcnow()
    created = users.member_facts(session, [me]).get(me, {}).get("created_at") or now
    new = now - created < timedelta(days=settings.new_user_days)
    interval = settings.new_user_post_interval_seconds if new else settings.post_interval_seconds
    mine = select(DiscussionPost).where(DiscussionPost.author_id == me)
    window = now - timedelta(seconds=settings.duplicate_post_seconds)
    duplicate = session.scalar(
        mine.where(DiscussionPost.created_at >= window, DiscussionPost.content_hash == digest)
        .with_only_columns(DiscussionPost.id)
        .limit(1)
    )
    if duplicate is not None:
        raise errors.DuplicatePost("you posted the same text a moment ago")
    last = session.scalar(
        select(func.max(DiscussionPost.created_at)).where(DiscussionPost.author_id == me)
    )
    if last is not None and interval and (now - last).total_seconds() < interval:
        wait = max(1, int(interval - (now - last).total_seconds()) + 1)
        raise errors.PostingTooFast(f"wait {wait} s before posting again", retryAfter=wait)
    cap = max(1, settings.posts_per_day // 10) if new else settings.posts_per_day
    today = session.scalar(
        select(func.count()).where(
            DiscussionPost.author_id == me, DiscussionPost.created_at >= now - timedelta(days=1)
        )
    )
    if today >= cap:
        raise errors.DailyPostLimit(f"at most {cap} posts a day", retryAfter=3600)


def _thread(session: Session, viewer: Viewer, thread_id: Any, *, lock: bool = False):
    """The thread and the viewer's role in its course; non-members get THREAD_NOT_FOUND."""
    require_authenticated(viewer)
    key = access.parse_uuid(thread_id, errors.ThreadNotFound, "thread")
    query = select(DiscussionThread).where(
        DiscussionThread.id == key, DiscussionThread.deleted_at.is_(None)
    )
    thread = session.scalar(query.with_for_update() if lock else query)
    role = thread and access.course_role(session, viewer, thread.course_id)
    if thread is None or role is None:
        raise errors.ThreadNotFound("thread not found")
    return thread, role


def _post(session: Session, viewer: Viewer, post_id: Any, *, lock: bool = False):
    require_authenticated(viewer)
    key = access.parse_uuid(post_id, errors.PostNotFound, "post")
    query = select(DiscussionPost).where(
        DiscussionPost.id == key, DiscussionPost.deleted_at.is_(None)
    )
    post = session.scalar(query.with_for_update() if lock else query)
    if post is None:
        raise errors.PostNotFound("post not found")
    try:
        thread, role = _thread(session, viewer, post.thread_id, lock=lock)
    except errors.ThreadNotFound:
        raise errors.PostNotFound("post not found") from None
    return post, thread, role


# --- views --------------------------------------------------------------------------------------


def post_views(
    session: Session,
    viewer: Viewer,
    thread: DiscussionThread,
    posts: list[DiscussionPost],
    role: CourseRole | None,
) -> list[dict[str, Any]]:
    ids = [p.id for p in posts]
    if not ids:
        return []
    votes: dict[uuid.UUID, list[int]] = {i: [0, 0] for i in ids}
    for post_id, value, count in session.execute(
        select(PostVote.post_id, PostVote.value, func.count())
        .where(PostVote.post_id.in_(ids))
        .group_by(PostVote.post_id, PostVote.value)
    ):
        votes[post_id][0 if value > 0 else 1] = count
    mine = dict(
        session.execute(
            select(PostVote.post_id, PostVote.value).where(
                PostVote.post_id.in_(ids), PostVote.user_id == viewer.user_id
            )
        ).all()
    )
    history: dict[uuid.UUID, list[PostRevision]] = {i: [] for i in ids}
    for revision in session.scalars(
        select(PostRevision).where(PostRevision.post_id.in_(ids)).order_by(PostRevision.created_at)
    ):
        history[revision.post_id].append(revision)
    names = users.member_facts(session, list({p.author_id for p in posts}))
    return [
        post_view(
            p,
            solution_id=thread.solution_post_id,
            votes=(votes[p.id][0], votes[p.id][1]),
            my_vote=mine.get(p.id),
            author_name=names.get(p.author_id, {}).get("name"),
            revisions=history[p.id],
            moderator=access.moderates(role) or p.author_id == viewer.user_id,
        )
        for p in posts
    ]


def _thread_view(
    session: Session,
    viewer: Viewer,
    thread: DiscussionThread,
    role: CourseRole | None,
    *,
    opening: DiscussionPost | None = None,
) -> dict[str, Any]:
    if opening is None:
        opening = session.scalar(
            select(DiscussionPost).where(
                DiscussionPost.thread_id == thread.id, DiscussionPost.is_opening.is_(True)
            )
        )
    name = users.member_facts(session, [thread.author_id]).get(thread.author_id, {}).get("name")
    shown = post_views(session, viewer, thread, [opening], role)[0] if opening else None
    return thread_view(thread, author_name=name, opening=shown)


def thread_posts(session: Session, viewer: Viewer, *, thread_id: Any) -> list[dict[str, Any]]:
    """A thread's replies, oldest first (the first `REPLIES_SHOWN`)."""
    thread, role = _thread(session, viewer, thread_id)
    posts = list(
        session.scalars(
            select(DiscussionPost)
            .where(
                DiscussionPost.thread_id == thread.id,
                DiscussionPost.is_opening.is_(False),
                DiscussionPost.deleted_at.is_(None),
            )
            .order_by(DiscussionPost.created_at, DiscussionPost.id)
            .limit(REPLIES_SHOWN)
        )
    )
    return post_views(session, viewer, thread, posts, role)


def _thread_changed(session: Session, viewer: Viewer, thread: DiscussionThread, role) -> dict:
    session.flush()
    view = _thread_view(session, viewer, thread, role)
    events.after_commit_publish(session, events.THREAD_UPDATED, [{**view, "threadId": view["id"]}])
    return view


# --- threads ------------------------------------------------------------------------------------


def create_discussion_thread(
    session: Session, viewer: Viewer, *, course_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    role = access.require_member(session, viewer, course_id)
    course = access.parse_uuid(course_id, errors.NotCourseMember, "course")
    title, body = _title(input.get("title")), _body(input.get("content"))
    lesson = None
    if input.get("lesson_id") is not None:
        lesson = access.parse_uuid(input["lesson_id"], errors.ThreadNotFound, "lesson")
        if not courses.lesson_in_course(session, lesson, course):
            raise ValidationFailed(
                "the lesson is not in this course", code="LESSON_NOT_IN_COURSE", field="lessonId"
            )
    if input.get("is_pinned") and not access.moderates(role):
        raise Forbidden("only instructors pin threads")
    digest = _digest(body)
    _check_posting_limits(session, me, role, digest)
    now = utcnow()
    thread = DiscussionThread(
        course_id=course,
        lesson_id=lesson,
        author_id=me,
        title=title,
        category=_category(input.get("category")),
        is_pinned=bool(input.get("is_pinned")),
        created_at=now,
        updated_at=now,
        last_post_at=now,
    )
    session.add(thread)
    session.flush()
    opening = DiscussionPost(
        thread_id=thread.id,
        author_id=me,
        is_opening=True,
        content=body,
        content_hash=digest,
        created_at=now,
    )
    session.add(opening)
    session.flush()
    record(
        session,
        actor_id=me,
        verb="commented",
        object_type="discussion_thread",
        object_id=thread.id,
        course_id=thread.course_id,
        context={"postId": str(opening.id)},
    )
    return _thread_view(session, viewer, thread, role, opening=opening)


def update_discussion_thread(
    session: Session, viewer: Viewer, *, thread_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    thread, role = _thread(session, viewer, thread_id, lock=True)
    moderator = access.moderates(role)
    if not (moderator or thread.author_id == me):
        raise Forbidden("only the thread's author or an instructor may change it")
    flags = {
        k: input[k] for k in ("is_pinned", "is_locked", "is_closed") if input.get(k) is not None
    }
    if flags and not moderator:
        raise Forbidden("only instructors pin, lock and close threads")
    if thread.is_locked and not moderator:
        raise errors.ThreadLocked("the thread is locked")
    if input.get("title") is not None:
        thread.title = _title(input["title"])
    if input.get("category") is not None:
        thread.category = _category(input["category"])
    if input.get("content") is not None:
        opening = session.scalar(
            select(DiscussionPost).where(
                DiscussionPost.thread_id == thread.id, DiscussionPost.is_opening.is_(True)
            )
        )
        _edit(session, me, opening, _body(input["content"]))
    for key, value in flags.items():
        setattr(thread, key, bool(value))
    thread.updated_at = utcnow()
    return _thread_changed(session, viewer, thread, role)


def delete_discussion_thread(session: Session, viewer: Viewer, *, thread_id: Any) -> bool:
    me = require_authenticated(viewer)
    thread, role = _thread(session, viewer, thread_id, lock=True)
    if not (access.moderates(role) or thread.author_id == me):
        raise Forbidden("only the thread's author or an instructor may delete it")
    thread.deleted_at = thread.updated_at = utcnow()
    _thread_changed(session, viewer, thread, role)  # watchers learn it is gone (isDeleted)
    return True


# --- posts --------------------------------------------------------------------------------------


def _edit(session: Session, editor: uuid.UUID, post: DiscussionPost, body: str) -> None:
    if body == post.content:
        return
    session.add(PostRevision(post_id=post.id, editor_id=editor, content=post.content))
    post.content, post.content_hash, post.edited_at = body, _digest(body), utcnow()


def _notify_reply(
    session: Session,
    viewer: Viewer,
    thread: DiscussionThread,
    post: DiscussionPost,
    parent: DiscussionPost | None,
    mentioned: list[Any],
) -> None:
    me = viewer.user_id
    link = {"threadId": str(thread.id), "postId": str(post.id), "courseId": str(thread.course_id)}
    replied_to = {thread.author_id} | ({parent.author_id} if parent else set())
    for user in replied_to - {me}:
        notifications.notify(
            session,
            user_id=user,
            type="REPLY",
            title=f"New reply in “{thread.title}”",
            body=visible_text(post.content)[:200],
            key=f"post:{post.id}",
            data=link,
        )
    for raw in mentioned[:20]:
        try:
            user = uuid.UUID(str(raw))
        except ValueError:
            continue
        # Only course members hear of a mention: a mention never leaks a forum.
        if user == me or user in replied_to:
            continue
        if access.course_role(session, access.member_viewer(user), thread.course_id) is None:
            continue
        notifications.notify(
            session,
            user_id=user,
            type="MENTION",
            title=f"You were mentioned in “{thread.title}”",
            body=visible_text(post.content)[:200],
            key=f"mention:{post.id}",
            data=link,
        )


def reply_to_thread(
    session: Session, viewer: Viewer, *, thread_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    thread, role = _thread(session, viewer, thread_id, lock=True)
    if (thread.is_locked or thread.is_closed) and not access.moderates(role):
        raise errors.ThreadLocked(
            "the thread is locked" if thread.is_locked else "the thread is closed",
            code="THREAD_LOCKED" if thread.is_locked else "THREAD_CLOSED",
        )
    body = _body(input.get("content"))
    parent = None
    if input.get("parent_post_id") is not None:
        parent_id = access.parse_uuid(input["parent_post_id"], errors.PostNotFound, "post")
        parent = session.get(DiscussionPost, parent_id)
        if parent is None or parent.thread_id != thread.id or parent.deleted_at is not None:
            raise errors.PostNotFound("the quoted post is not in this thread")
    digest = _digest(body)
    _check_posting_limits(session, me, role, digest)
    now = utcnow()
    post = DiscussionPost(
        thread_id=thread.id,
        author_id=me,
        parent_id=parent.id if parent else None,
        content=body,
        content_hash=digest,
        created_at=now,
    )
    session.add(post)
    thread.reply_count += 1
    thread.last_post_at = now
    session.flush()
    record(
        session,
        actor_id=me,
        verb="commented",
        object_type="discussion_post",
        object_id=post.id,
        course_id=thread.course_id,
        context={"threadId": str(thread.id), "parentId": str(parent.id) if parent else None},
    )
    _notify_reply(session, viewer, thread, post, parent, input.get("mentioned_user_ids") or [])
    view = post_views(session, viewer, thread, [post], role)[0]
    # What every member sees: no `myVote` of the author's.
    events.after_commit_publish(
        session, events.DISCUSSION_POST, [{**view, "myVote": None, "threadId": str(thread.id)}]
    )
    _thread_changed(session, viewer, thread, role)
    return view


def update_post(
    session: Session, viewer: Viewer, *, post_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    post, thread, role = _post(session, viewer, post_id, lock=True)
    moderator = access.moderates(role)
    decisions = {k: input[k] for k in ("is_endorsed", "is_hidden") if input.get(k) is not None}
    if decisions and not moderator:
        raise Forbidden("only instructors endorse posts or decide on flagged ones")
    if input.get("content") is not None:
        if post.author_id != me and not moderator:
            raise Forbidden("only the author or an instructor may edit a post")
        if thread.is_locked and not moderator:
            raise errors.ThreadLocked("the thread is locked")
        _edit(session, me, post, _body(input["content"]))
    if "is_endorsed" in decisions:
        post.is_endorsed = bool(decisions["is_endorsed"])
    if "is_hidden" in decisions:
        post.hidden_at = utcnow() if decisions["is_hidden"] else None
        if not decisions["is_hidden"]:
            # An instructor kept the post: its flags are settled.
            session.query(PostFlag).filter(PostFlag.post_id == post.id).delete()
            post.flag_count = 0
    session.flush()
    return post_views(session, viewer, thread, [post], role)[0]


def delete_post(session: Session, viewer: Viewer, *, post_id: Any) -> bool:
    me = require_authenticated(viewer)
    post, thread, role = _post(session, viewer, post_id, lock=True)
    if not (access.moderates(role) or post.author_id == me):
        raise Forbidden("only the author or an instructor may delete a post")
    if post.is_opening:
        raise ValidationFailed(
            "the opening post is the thread: delete the thread instead",
            code="BAD_USER_INPUT",
            field="postId",
        )
    post.deleted_at = utcnow()
    thread.reply_count = max(0, thread.reply_count - 1)
    if thread.solution_post_id == post.id:
        thread.solution_post_id = None
    _thread_changed(session, viewer, thread, role)
    return True


def vote_post(session: Session, viewer: Viewer, *, post_id: Any, vote_type: str) -> dict[str, Any]:
    """One vote per user per post: voting again changes it, NONE takes it back."""
    me = require_authenticated(viewer)
    if vote_type not in VOTES:
        raise ValidationFailed(f"unknown vote {vote_type!r}", field="voteType")
    post, thread, role = _post(session, viewer, post_id, lock=True)  # votes of a post queue up
    if post.author_id == me:
        raise ValidationFailed("you cannot vote on your own post", code="OWN_POST")
    value = VOTES[vote_type]
    vote = session.get(PostVote, (post.id, me))
    if value == 0 and vote is not None:
        session.delete(vote)
    elif value and vote is None:
        session.add(PostVote(post_id=post.id, user_id=me, value=value))
    elif value and vote is not None:
        vote.value = value
    session.flush()
    post.score = session.scalar(
        select(func.coalesce(func.sum(PostVote.value), 0)).where(PostVote.post_id == post.id)
    )
    session.flush()
    return post_views(session, viewer, thread, [post], role)[0]


def mark_solution(session: Session, viewer: Viewer, *, post_id: Any) -> dict[str, Any]:
    me = require_authenticated(viewer)
    post, thread, role = _post(session, viewer, post_id, lock=True)
    if not (thread.author_id == me or access.moderates(role)):
        raise errors.NotThreadAuthor("only the thread's author or an instructor marks the answer")
    if post.is_opening:
        raise ValidationFailed("the question cannot be its own answer", field="postId")
    thread.solution_post_id = post.id
    thread.updated_at = utcnow()
    return _thread_changed(session, viewer, thread, role)


def flag_post(
    session: Session, viewer: Viewer, *, post_id: Any, reason: str | None = None
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    post, thread, role = _post(session, viewer, post_id, lock=True)
    if post.author_id == me:
        raise ValidationFailed("you cannot flag your own post", code="OWN_POST")
    if session.get(PostFlag, (post.id, me)) is None:
        session.add(PostFlag(post_id=post.id, user_id=me, reason=plain_text(reason)[:200]))
        post.flag_count += 1
        if post.flag_count >= communication_settings().flags_to_hide and post.hidden_at is None:
            post.hidden_at = utcnow()  # until an instructor decides (updatePost isHidden)
        session.flush()
    return post_views(session, viewer, thread, [post], role)[0]


# --- reads --------------------------------------------------------------------------------------


def discussion_threads(
    session: Session,
    viewer: Viewer,
    *,
    course_id: Any,
    filter: dict[str, Any] | None = None,
    pagination: dict[str, Any] | None = None,
) -> dict[str, Any]:
    role = access.require_member(session, viewer, course_id)
    course = access.parse_uuid(course_id, errors.NotCourseMember, "course")
    filter = filter or {}
    statement = select(DiscussionThread).where(
        DiscussionThread.course_id == course, DiscussionThread.deleted_at.is_(None)
    )
    if filter.get("category"):
        statement = statement.where(DiscussionThread.category == _category(filter["category"]))
    if filter.get("lesson_id"):
        lesson = access.parse_uuid(filter["lesson_id"], errors.ThreadNotFound, "lesson")
        statement = statement.where(DiscussionThread.lesson_id == lesson)
    if filter.get("unsolved"):
        statement = statement.where(DiscussionThread.solution_post_id.is_(None))
    if filter.get("search"):
        words = plain_text(filter["search"])[:100].replace("%", "").replace("_", "")
        statement = statement.where(DiscussionThread.title.ilike(f"%{words}%"))
    page = keyset_page(
        session,
        statement,
        name="discussionThreads",
        arguments={"course": str(course), **{k: str(v) for k, v in filter.items()}},
        pagination=pagination,
        columns=(DiscussionThread.is_pinned, DiscussionThread.last_post_at, DiscussionThread.id),
        kinds=(bool, type(utcnow()), uuid.UUID),
        key=lambda t: (t.is_pinned, t.last_post_at, t.id),
    )
    threads = page.nodes
    openings = {
        p.thread_id: p
        for p in session.scalars(
            select(DiscussionPost).where(
                DiscussionPost.thread_id.in_([t.id for t in threads]),
                DiscussionPost.is_opening.is_(True),
            )
        )
    }
    nodes = [_thread_view(session, viewer, t, role, opening=openings.get(t.id)) for t in threads]
    return connection_view(page, nodes)


def flagged_posts(
    session: Session,
    viewer: Viewer,
    *,
    course_id: Any,
    pagination: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The review queue: the course's posts that members flagged or an instructor hid, most
    flagged first (so those hidden by flags lead), with every flag's reason. Instructors
    decide with `updatePost(isHidden)`; keeping a post clears its flags and its place here."""
    role = access.require_moderator(session, viewer, course_id)
    course = access.parse_uuid(course_id, errors.NotCourseMember, "course")
    statement = (
        select(DiscussionPost)
        .join(DiscussionThread, DiscussionThread.id == DiscussionPost.thread_id)
        .where(
            DiscussionThread.course_id == course,
            DiscussionThread.deleted_at.is_(None),
            DiscussionPost.deleted_at.is_(None),
            (DiscussionPost.flag_count > 0) | DiscussionPost.hidden_at.is_not(None),
        )
    )
    page = keyset_page(
        session,
        statement,
        name="flaggedPosts",
        arguments={"course": str(course)},
        pagination=pagination,
        columns=(DiscussionPost.flag_count, DiscussionPost.created_at, DiscussionPost.id),
        kinds=(int, type(utcnow()), uuid.UUID),
        key=lambda p: (p.flag_count, p.created_at, p.id),
    )
    posts = page.nodes
    threads = {
        t.id: t
        for t in session.scalars(
            select(DiscussionThread).where(DiscussionThread.id.in_({p.thread_id for p in posts}))
        )
    }
    flags: dict[uuid.UUID, list[PostFlag]] = {p.id: [] for p in posts}
    for flag in session.scalars(
        select(PostFlag)
        .where(PostFlag.post_id.in_(list(flags)))
        .order_by(PostFlag.created_at, PostFlag.user_id)
    ):
        flags[flag.post_id].append(flag)
    shown = {
        post.id: view
        for thread in threads.values()
        for post, view in _views_of_thread(session, viewer, thread, posts, role)
    }
    nodes = [
        {
            "post": shown[p.id],
            "threadId": str(p.thread_id),
            "threadTitle": threads[p.thread_id].title,
            "flagCount": p.flag_count,
            "flags": [_flag_view(f) for f in flags[p.id]],
        }
        for p in posts
    ]
    return connection_view(page, nodes)


def _flag_view(flag: PostFlag) -> dict[str, Any]:
    return {
        "userId": str(flag.user_id),
        "reason": flag.reason or None,
        "createdAt": iso(flag.created_at),
    }


def _views_of_thread(session, viewer, thread, posts, role):
    """(post, view) for the posts of one thread (views need their thread's answer mark)."""
    mine = [p for p in posts if p.thread_id == thread.id]
    return zip(mine, post_views(session, viewer, thread, mine, role), strict=True)


def can_watch_thread(session: Session, viewer: Viewer, thread_id: Any) -> str:
    """The thread's id if the viewer may watch it (subscriptions); THREAD_NOT_FOUND otherwise."""
    thread, _ = _thread(session, viewer, thread_id)
    return str(thread.id)
