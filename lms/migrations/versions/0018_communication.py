"""communication: conversations, messages and receipts, blocks, forum threads, posts,
revisions, votes and flags, announcements and their revisions

Revision ID: 0018
Revises: 0007 (the lead re-chains it at merge); needs 0003 (courses, lessons)
Create Date: 2026-12-06 15:19:44.214592
"""

from alembic import op
import sqlalchemy as sa
import lms.models


revision = "0018"
down_revision = "0007"
branch_labels = None
depends_on = ("0003",)  # threads and announcements reference courses and lessons


def upgrade() -> None:
    op.create_table(
        "user_blocks",
        sa.Column("blocker_id", sa.Uuid(), nullable=False),
        sa.Column("blocked_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocked_id"],
            ["users.id"],
            name=op.f("fk_user_blocks_blocked_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocker_id"],
            ["users.id"],
            name=op.f("fk_user_blocks_blocker_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name=op.f("pk_user_blocks")),
    )
    op.create_index(op.f("ix_user_blocks_blocked_id"), "user_blocks", ["blocked_id"], unique=False)
    op.create_table(
        "announcements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "SCHEDULED",
                "PUBLISHED",
                name="announcementstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("publish_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fanout_job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_announcements_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_announcements_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    op.create_index(
        "ix_announcements_course_published",
        "announcements",
        ["course_id", "published_at"],
        unique=False,
    )
    op.create_index("ix_announcements_due", "announcements", ["status", "publish_at"], unique=False)
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("DIRECT", "GROUP", name="conversationkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("direct_key", sa.String(length=80), nullable=True),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_conversations_course_id_courses"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("direct_key", name=op.f("uq_conversations_direct_key")),
    )
    op.create_index(
        op.f("ix_conversations_last_message_at"), "conversations", ["last_message_at"], unique=False
    )
    op.create_table(
        "announcement_revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("editor_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_revisions_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["users.id"],
            name=op.f("fk_announcement_revisions_editor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement_revisions")),
    )
    op.create_index(
        op.f("ix_announcement_revisions_announcement_id"),
        "announcement_revisions",
        ["announcement_id"],
        unique=False,
    )
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("joined_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversation_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_members")),
    )
    op.create_index(
        op.f("ix_conversation_members_user_id"), "conversation_members", ["user_id"], unique=False
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_for_everyone_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_messages_sender_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(
        "ix_messages_conversation_created",
        "messages",
        ["conversation_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_messages_sender_id"), "messages", ["sender_id"], unique=False)
    op.create_table(
        "discussion_threads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("is_locked", sa.Boolean(), nullable=False),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("solution_post_id", sa.Uuid(), nullable=True),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_post_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_discussion_threads_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_discussion_threads_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_discussion_threads_lesson_id_lessons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discussion_threads")),
    )
    op.create_index(
        op.f("ix_discussion_threads_author_id"), "discussion_threads", ["author_id"], unique=False
    )
    op.create_index(
        "ix_discussion_threads_course_activity",
        "discussion_threads",
        ["course_id", "last_post_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_discussion_threads_lesson_id"), "discussion_threads", ["lesson_id"], unique=False
    )
    op.create_table(
        "message_receipts",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("is_sender", sa.Boolean(), nullable=False),
        sa.Column("read_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_receipts_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_receipts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_receipts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_message_receipts")),
    )
    op.create_index(
        op.f("ix_message_receipts_conversation_id"),
        "message_receipts",
        ["conversation_id"],
        unique=False,
    )
    op.create_index(
        "ix_message_receipts_user_unread", "message_receipts", ["user_id", "read_at"], unique=False
    )
    op.create_table(
        "discussion_posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("is_opening", sa.Boolean(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("is_endorsed", sa.Boolean(), nullable=False),
        sa.Column("flag_count", sa.Integer(), nullable=False),
        sa.Column("hidden_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", lms.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_discussion_posts_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["discussion_posts.id"],
            name=op.f("fk_discussion_posts_parent_id_discussion_posts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["discussion_threads.id"],
            name=op.f("fk_discussion_posts_thread_id_discussion_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discussion_posts")),
    )
    op.create_index(
        "ix_discussion_posts_author_created",
        "discussion_posts",
        ["author_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_discussion_posts_thread_created",
        "discussion_posts",
        ["thread_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "discussion_post_flags",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["discussion_posts.id"],
            name=op.f("fk_discussion_post_flags_post_id_discussion_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_discussion_post_flags_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_discussion_post_flags")),
    )
    op.create_table(
        "discussion_post_revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("editor_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["users.id"],
            name=op.f("fk_discussion_post_revisions_editor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["discussion_posts.id"],
            name=op.f("fk_discussion_post_revisions_post_id_discussion_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discussion_post_revisions")),
    )
    op.create_index(
        op.f("ix_discussion_post_revisions_post_id"),
        "discussion_post_revisions",
        ["post_id"],
        unique=False,
    )
    op.create_table(
        "discussion_post_votes",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", lms.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["discussion_posts.id"],
            name=op.f("fk_discussion_post_votes_post_id_discussion_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_discussion_post_votes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_discussion_post_votes")),
    )


def downgrade() -> None:
    op.drop_table("discussion_post_votes")
    op.drop_index(
        op.f("ix_discussion_post_revisions_post_id"), table_name="discussion_post_revisions"
    )
    op.drop_table("discussion_post_revisions")
    op.drop_table("discussion_post_flags")
    op.drop_index("ix_discussion_posts_thread_created", table_name="discussion_posts")
    op.drop_index("ix_discussion_posts_author_created", table_name="discussion_posts")
    op.drop_table("discussion_posts")
    op.drop_index("ix_message_receipts_user_unread", table_name="message_receipts")
    op.drop_index(op.f("ix_message_receipts_conversation_id"), table_name="message_receipts")
    op.drop_table("message_receipts")
    op.drop_index(op.f("ix_discussion_threads_lesson_id"), table_name="discussion_threads")
    op.drop_index("ix_discussion_threads_course_activity", table_name="discussion_threads")
    op.drop_index(op.f("ix_discussion_threads_author_id"), table_name="discussion_threads")
    op.drop_table("discussion_threads")
    op.drop_index(op.f("ix_messages_sender_id"), table_name="messages")
    op.drop_index("ix_messages_conversation_created", table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_conversation_members_user_id"), table_name="conversation_members")
    op.drop_table("conversation_members")
    op.drop_index(
        op.f("ix_announcement_revisions_announcement_id"), table_name="announcement_revisions"
    )
    op.drop_table("announcement_revisions")
    op.drop_index(op.f("ix_conversations_last_message_at"), table_name="conversations")
    op.drop_table("conversations")
    op.drop_index("ix_announcements_due", table_name="announcements")
    op.drop_index("ix_announcements_course_published", table_name="announcements")
    op.drop_table("announcements")
    op.drop_index(op.f("ix_user_blocks_blocked_id"), table_name="user_blocks")
    op.drop_table("user_blocks")
