"""Communication tables: conversations and messages, forum threads and posts, announcements.

Presence and typing are not here: they are ephemeral (Redis or process memory, see
`service/live.py`), never a row per heartbeat.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class ConversationKind(enum.StrEnum):
    DIRECT = "DIRECT"
    GROUP = "GROUP"


class AnnouncementStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    PUBLISHED = "PUBLISHED"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=24)


def _user_fk(ondelete: str = "CASCADE"):
    return ForeignKey("users.id", ondelete=ondelete)


class CourseMessaging(Base):
    """A course's own messaging rule, set by its instructors; a course without a row follows
    the deployment's `LMS_COMMUNICATION_STUDENTS_MAY_MESSAGE_CLASSMATES`."""

    __tablename__ = "communication_course_settings"

    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    # Students may write to classmates (direct messages, and starting groups).
    students_may_message_classmates: Mapped[bool] = mapped_column()
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(_user_fk("SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[ConversationKind] = mapped_column(_enum(ConversationKind))
    # Two people have one direct conversation: "<smaller id>:<larger id>".
    direct_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    course_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("courses.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(index=True)


class ConversationMember(Base):
    __tablename__ = "conversation_members"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), primary_key=True, index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), index=True)
    content: Mapped[str] = mapped_column(Text)  # sanitized rich text
    # [{"fileName", "contentType", "sizeBytes", "storageKey"}]: bytes checked on the way in.
    attachments: Mapped[list[dict]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_for_everyone_at: Mapped[datetime | None]


class MessageReceipt(Base):
    """One recipient's state of one message: read, and/or deleted for themself only."""

    __tablename__ = "message_receipts"
    __table_args__ = (Index("ix_message_receipts_user_unread", "user_id", "read_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    is_sender: Mapped[bool] = mapped_column(default=False)
    read_at: Mapped[datetime | None]
    hidden_at: Mapped[datetime | None]  # "delete for me"


class UserBlock(Base):
    __tablename__ = "user_blocks"

    blocker_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), primary_key=True)
    blocked_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DiscussionThread(Base):
    __tablename__ = "discussion_threads"
    __table_args__ = (Index("ix_discussion_threads_course_activity", "course_id", "last_post_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    lesson_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), index=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(60), default="general")
    is_pinned: Mapped[bool] = mapped_column(default=False)
    is_locked: Mapped[bool] = mapped_column(default=False)
    is_closed: Mapped[bool] = mapped_column(default=False)
    solution_post_id: Mapped[uuid.UUID | None]
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_post_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class DiscussionPost(Base):
    """A thread's opening post (`is_opening`) or a reply; `parent_id` is the quoted post."""

    __tablename__ = "discussion_posts"
    __table_args__ = (
        Index("ix_discussion_posts_thread_created", "thread_id", "created_at"),
        Index("ix_discussion_posts_author_created", "author_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    thread_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("discussion_threads.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID] = mapped_column(_user_fk())
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("discussion_posts.id", ondelete="SET NULL")
    )
    is_opening: Mapped[bool] = mapped_column(default=False)
    content: Mapped[str] = mapped_column(Text)  # sanitized rich text
    content_hash: Mapped[str] = mapped_column(String(64))  # duplicate-post window
    score: Mapped[int] = mapped_column(Integer, default=0)  # upvotes minus downvotes
    is_endorsed: Mapped[bool] = mapped_column(default=False)  # by an instructor
    flag_count: Mapped[int] = mapped_column(Integer, default=0)
    hidden_at: Mapped[datetime | None]  # hidden by flags until an instructor decides
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class PostRevision(Base):
    """The text a post had before an edit (edit history)."""

    __tablename__ = "discussion_post_revisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("discussion_posts.id", ondelete="CASCADE"), index=True
    )
    editor_id: Mapped[uuid.UUID] = mapped_column(_user_fk())
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostVote(Base):
    __tablename__ = "discussion_post_votes"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("discussion_posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)  # +1 or -1
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostFlag(Base):
    __tablename__ = "discussion_post_flags"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("discussion_posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(_user_fk(), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Announcement(Base):
    __tablename__ = "announcements"
    __table_args__ = (
        Index("ix_announcements_course_published", "course_id", "published_at"),
        Index("ix_announcements_due", "status", "publish_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID] = mapped_column(_user_fk())
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="NORMAL")
    status: Mapped[AnnouncementStatus] = mapped_column(
        _enum(AnnouncementStatus), default=AnnouncementStatus.DRAFT
    )
    publish_at: Mapped[datetime | None]  # when a SCHEDULED one goes out
    published_at: Mapped[datetime | None]
    fanout_job_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class AnnouncementRevision(Base):
    __tablename__ = "announcement_revisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), index=True
    )
    editor_id: Mapped[uuid.UUID] = mapped_column(_user_fk())
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
