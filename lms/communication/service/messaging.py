"""Direct messages: send (with checked attachments), read receipts, unread counts, delete;
`deliver` stores a checked message in any conversation (groups use it too).

A message has one receipt row per member of its conversation: the recipient's read mark
and "deleted for me" live there, so unread counts are one indexed count and deleting for
oneself never touches the other side's copy.
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, Uuid, and_, bindparam, exists, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms.communication import access, errors, events
from lms.communication.models import (
    Conversation,
    ConversationKind,
    ConversationMember,
    Message,
    MessageReceipt,
    UserBlock,
)
from lms.communication.service.paging import keyset_page
from lms.communication.service.views import connection_view, iso, message_view
from lms.communication.settings import communication_settings
from lms.content import service as content
from lms.errors import NotFound, ValidationFailed
from lms.models import new_id, utcnow
from lms.notifications import service as notifications
from lms.sanitize import plain_text, rich_text, visible_text
from lms.security import Viewer, require_authenticated
from lms.storage import get_storage
from lms.users import service as users


def user_not_found() -> NotFound:
    return NotFound("user not found", code="USER_NOT_FOUND")


def blocked_clause(a: uuid.UUID, b: uuid.UUID):
    """SQL: either of the two blocked the other."""
    return exists().where(
        or_(
            and_(UserBlock.blocker_id == a, UserBlock.blocked_id == b),
            and_(UserBlock.blocker_id == b, UserBlock.blocked_id == a),
        )
    )


def blocked_between(session: Session, a: uuid.UUID, b: uuid.UUID) -> bool:
    return bool(session.scalar(select(blocked_clause(a, b))))


def checked_content(raw: str | None, has_files: bool) -> str:
    limit = communication_settings().message_max_chars
    if raw is not None and len(raw) > limit:
        raise errors.too_long("content", limit)
    content_html = rich_text(raw)
    if not visible_text(content_html) and not has_files:
        raise errors.empty("content")
    return content_html


def checked_files(raw: list[dict[str, Any]] | None) -> list[tuple[str, str, bytes]]:
    """(file name, detected type, bytes) of each attachment; refused as a whole if any fails."""
    settings = communication_settings()
    raw = raw or []
    if len(raw) > settings.attachments_per_message:
        raise errors.invalid(
            f"at most {settings.attachments_per_message} attachments", field="attachments"
        )
    # Base64 is 4/3 of the bytes: refuse an oversized upload before decoding it.
    if sum(len(item.get("data") or "") for item in raw) * 3 // 4 > settings.attachment_max_bytes:
        raise errors.attachment_too_large(settings.attachment_max_bytes)
    files, total = [], 0
    for item in raw:
        name = content.safe_file_name(plain_text(item.get("file_name")) or "file")
        try:
            data = base64.b64decode(item.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            raise errors.invalid(f"{name}: data is not base64", field="attachments") from None
        total += len(data)
        if total > settings.attachment_max_bytes:
            raise errors.attachment_too_large(settings.attachment_max_bytes)
        kind = content.detect_file_type(data, item.get("content_type") or "") if data else None
        if kind is None:
            raise errors.attachment_not_allowed(name)
        files.append((name, kind, data))
    return files


@functools.cache
def allowed_check(admin: bool, classmates: bool) -> Select:
    """`SELECT blocked, shared` for parameters `me` and `recipient`, built once per kind of
    sender: building and hashing the statement anew cost about 4 ms of CPU per send."""
    me, recipient = bindparam("me", type_=Uuid), bindparam("recipient", type_=Uuid)
    shared = true() if admin else access.courses_let_write(me, recipient, classmates=classmates)
    return select(blocked_clause(me, recipient), shared)


def _direct_key(a: uuid.UUID, b: uuid.UUID) -> str:
    low, high = sorted((str(a), str(b)))
    return f"{low}:{high}"


def _direct_conversation(session: Session, me: uuid.UUID, other: uuid.UUID) -> Conversation:
    key = _direct_key(me, other)
    found = session.scalar(select(Conversation).where(Conversation.direct_key == key))
    if found is not None:
        return found
    try:
        with session.begin_nested():  # two first messages at once: one row wins
            conversation = Conversation(kind=ConversationKind.DIRECT, direct_key=key)
            session.add(conversation)
            session.flush()
            session.add_all(
                ConversationMember(conversation_id=conversation.id, user_id=user)
                for user in (me, other)
            )
            session.flush()
        return conversation
    except IntegrityError:
        return session.scalars(select(Conversation).where(Conversation.direct_key == key)).one()


def _touch_direct_conversation(session: Session, me: uuid.UUID, other: uuid.UUID, now) -> uuid.UUID:
    """The id of the two people's conversation, its `last_message_at` set to `now`: one
    UPDATE … RETURNING when it exists (every message but the first), else created."""
    found = session.scalar(
        update(Conversation)
        .where(Conversation.direct_key == _direct_key(me, other))
        .values(last_message_at=now)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    if found is not None:
        return found
    conversation = _direct_conversation(session, me, other)
    conversation.last_message_at = now
    return conversation.id


def _wrote_to(session: Session, sender: uuid.UUID, recipient: uuid.UUID) -> bool:
    """Whether `sender` has written to `recipient` before (who may then always answer)."""
    conversation = session.scalar(
        select(Conversation.id).where(Conversation.direct_key == _direct_key(sender, recipient))
    )
    if conversation is None:
        return False
    return bool(
        session.scalar(
            select(
                exists().where(Message.conversation_id == conversation, Message.sender_id == sender)
            )
        )
    )


def unread_in(session: Session, user_id: uuid.UUID, conversation_ids: list[uuid.UUID]):
    rows = session.execute(
        select(MessageReceipt.conversation_id, func.count())
        .where(
            MessageReceipt.user_id == user_id,
            MessageReceipt.conversation_id.in_(conversation_ids),
            MessageReceipt.read_at.is_(None),
            MessageReceipt.hidden_at.is_(None),
        )
        .group_by(MessageReceipt.conversation_id)
    )
    counts = {c: 0 for c in conversation_ids}
    counts.update({row[0]: row[1] for row in rows})
    return counts


def _conversation_update(
    session: Session,
    conversation_id: uuid.UUID,
    user_ids: list[uuid.UUID],
    reason: str,
    message_id: uuid.UUID | None,
) -> None:
    at = iso(utcnow())
    counts = dict(
        session.execute(
            select(MessageReceipt.user_id, func.count())
            .where(
                MessageReceipt.conversation_id == conversation_id,
                MessageReceipt.user_id.in_(user_ids),
                MessageReceipt.read_at.is_(None),
                MessageReceipt.hidden_at.is_(None),
            )
            .group_by(MessageReceipt.user_id)
        ).all()
    )
    payloads = [
        {
            "userId": str(user),
            "conversationId": str(conversation_id),
            "reason": reason,
            "unreadCount": counts.get(user, 0),
            "messageId": str(message_id) if message_id else None,
            "at": at,
        }
        for user in user_ids
    ]
    events.after_commit_publish(session, events.CONVERSATION_UPDATED, payloads)


def send_message(
    session: Session, viewer: Viewer, *, recipient_id: Any, input: dict[str, Any]
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    recipient = access.parse_uuid(recipient_id, type(user_not_found()), "user")
    if recipient == me:
        raise ValidationFailed(
            "you cannot message yourself", code="INVALID_RECIPIENT", field="recipientId"
        )
    facts = users.member_facts(session, [me, recipient])
    if recipient not in facts:
        raise user_not_found()
    settings = communication_settings()
    # Blocks and shared courses in one statement (checked and reported in this order).
    check = allowed_check(viewer.is_admin, settings.students_may_message_classmates)
    blocked, shared = session.execute(check, {"me": me, "recipient": recipient}).one()
    if blocked:
        raise errors.UserBlocked("messages between you and this user are blocked")
    files = checked_files(input.get("attachments"))
    content_html = checked_content(input.get("content"), bool(files))
    if not (shared or _wrote_to(session, recipient, me)):
        raise errors.MessagingNotAllowed("you share no course with this user")

    now = utcnow()
    conversation_id = _touch_direct_conversation(session, me, recipient, now)
    return deliver(
        session, conversation_id, me, facts[me]["name"], [recipient], files, content_html, now
    )


def deliver(
    session: Session,
    conversation_id: uuid.UUID,
    me: uuid.UUID,
    sender_name: str | None,
    recipients: list[uuid.UUID],
    files: list[tuple[str, str, bytes]],
    content_html: str,
    now,
) -> dict[str, Any]:
    """Store a checked message in a conversation whose `last_message_at` the caller set to
    `now`: its files, a receipt per member, a NEW_MESSAGE notification and a live event per
    recipient. The sender's view comes back."""
    message = Message(
        id=new_id(), conversation_id=conversation_id, sender_id=me, content=content_html
    )
    # Files are written before the commit under keys of this message: a rollback leaves
    # only unreachable bytes behind, never a message pointing at nothing.
    storage = get_storage()
    message.attachments = []
    for index, (name, kind, data) in enumerate(files):
        key = f"messages/{conversation_id}/{message.id}/{index}-{name}"
        storage.put_bytes(key, data, content_type=kind)
        message.attachments.append(
            {"fileName": name, "contentType": kind, "sizeBytes": len(data), "storageKey": key}
        )
    message.created_at = now
    session.add(message)
    session.flush()
    # The same columns in every row, so the flush sends them as one INSERT.
    session.add_all(
        [
            MessageReceipt(
                message_id=message.id,
                user_id=me,
                conversation_id=conversation_id,
                is_sender=True,
                read_at=now,
            ),
            *(
                MessageReceipt(
                    message_id=message.id,
                    user_id=user,
                    conversation_id=conversation_id,
                    is_sender=False,
                    read_at=None,
                )
                for user in recipients
            ),
        ]
    )
    session.flush()
    for recipient in recipients:
        notifications.notify(
            session,
            user_id=recipient,
            type="NEW_MESSAGE",
            title=f"New message from {sender_name}",
            body=visible_text(content_html)[:200],
            key=f"message:{message.id}",
            data={"conversationId": str(conversation_id), "messageId": str(message.id)},
        )
    delivered = message_view(message, sender_name=sender_name, with_urls=False)
    events.after_commit_publish(
        session,
        events.MESSAGE_RECEIVED,
        [{**delivered, "userId": str(recipient)} for recipient in recipients],
    )
    _conversation_update(session, conversation_id, [*recipients, me], "NEW_MESSAGE", message.id)
    return message_view(message, read_at=now, sender_name=sender_name)


def _receipt(session: Session, me: uuid.UUID, message_id: Any, *, lock: bool = False):
    key = access.parse_uuid(message_id, errors.MessageNotFound, "message")
    query = select(MessageReceipt, Message).join(Message, Message.id == MessageReceipt.message_id)
    query = query.where(
        MessageReceipt.message_id == key,
        MessageReceipt.user_id == me,
        MessageReceipt.hidden_at.is_(None),
    )
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise errors.MessageNotFound("message not found")
    return row


def mark_message_as_read(session: Session, viewer: Viewer, *, message_id: Any) -> dict[str, Any]:
    me = require_authenticated(viewer)
    receipt, message = _receipt(session, me, message_id, lock=True)
    if receipt.read_at is None:
        receipt.read_at = utcnow()
        session.flush()
        _conversation_update(session, message.conversation_id, [me], "READ", message.id)
    return message_view(message, read_at=receipt.read_at)


def member_conversation(session: Session, me: uuid.UUID, conversation_id: Any) -> uuid.UUID:
    key = access.parse_uuid(conversation_id, errors.ConversationNotFound, "conversation")
    member = session.get(ConversationMember, (key, me))
    if member is None:
        raise errors.ConversationNotFound("conversation not found")
    return key


def mark_conversation_as_read(session: Session, viewer: Viewer, *, conversation_id: Any) -> int:
    me = require_authenticated(viewer)
    key = member_conversation(session, me, conversation_id)
    marked = session.execute(
        update(MessageReceipt)
        .where(
            MessageReceipt.conversation_id == key,
            MessageReceipt.user_id == me,
            MessageReceipt.read_at.is_(None),
        )
        .values(read_at=utcnow())
    ).rowcount
    if marked:
        _conversation_update(session, key, [me], "READ", None)
    return marked


def delete_message(session: Session, viewer: Viewer, *, message_id: Any) -> dict[str, Any]:
    """The sender, within the window: gone for everyone. Otherwise: gone for the viewer."""
    me = require_authenticated(viewer)
    receipt, message = _receipt(session, me, message_id, lock=True)
    window = timedelta(minutes=communication_settings().delete_for_all_minutes)
    now = utcnow()
    for_everyone = (
        message.sender_id == me
        and message.deleted_for_everyone_at is None
        and now - message.created_at <= window
    )
    if for_everyone:
        message.deleted_for_everyone_at = now
        # Nobody has an unread message that is gone.
        session.execute(
            update(MessageReceipt)
            .where(MessageReceipt.message_id == message.id, MessageReceipt.read_at.is_(None))
            .values(read_at=now)
        )
        members = list(
            session.scalars(
                select(ConversationMember.user_id).where(
                    ConversationMember.conversation_id == message.conversation_id
                )
            )
        )
    else:
        receipt.hidden_at = now
        members = [me]
    session.flush()
    _conversation_update(session, message.conversation_id, members, "MESSAGE_DELETED", message.id)
    return {"messageId": str(message.id), "deletedForEveryone": for_everyone}


def block_user(session: Session, viewer: Viewer, *, user_id: Any) -> bool:
    me = require_authenticated(viewer)
    other = access.parse_uuid(user_id, type(user_not_found()), "user")
    if other == me or other not in users.member_facts(session, [other]):
        raise user_not_found()
    if session.get(UserBlock, (me, other)) is None:
        session.add(UserBlock(blocker_id=me, blocked_id=other))
        session.flush()
    return True


def unblock_user(session: Session, viewer: Viewer, *, user_id: Any) -> bool:
    me = require_authenticated(viewer)
    other = access.parse_uuid(user_id, type(user_not_found()), "user")
    block = session.get(UserBlock, (me, other))
    if block is not None:
        session.delete(block)
        session.flush()
    return block is not None


# --- reads ------------------------------------------------------------------------------------


def conversations(
    session: Session, viewer: Viewer, *, pagination: dict[str, Any] | None = None
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    statement = (
        select(Conversation)
        .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
        .where(ConversationMember.user_id == me, Conversation.last_message_at.is_not(None))
    )
    page = keyset_page(
        session,
        statement,
        name="conversations",
        arguments={"user": str(me)},
        pagination=pagination,
        columns=(Conversation.last_message_at, Conversation.id),
        kinds=(type(utcnow()), uuid.UUID),
        key=lambda c: (c.last_message_at, c.id),
    )
    items = page.nodes
    ids = [c.id for c in items]
    unread = unread_in(session, me, ids) if ids else {}
    members: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in ids}
    for conversation_id, user_id in session.execute(
        select(ConversationMember.conversation_id, ConversationMember.user_id).where(
            ConversationMember.conversation_id.in_(ids)
        )
    ):
        members[conversation_id].append(user_id)
    names = users.member_facts(session, [u for group in members.values() for u in group])
    nodes = []
    for c in items:
        last = session.execute(
            select(Message, MessageReceipt.read_at)
            .join(MessageReceipt, MessageReceipt.message_id == Message.id)
            .where(
                Message.conversation_id == c.id,
                MessageReceipt.user_id == me,
                MessageReceipt.hidden_at.is_(None),
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        ).first()
        nodes.append(
            {
                "id": str(c.id),
                "kind": c.kind.value,
                "participants": [
                    {"userId": str(u), "name": names.get(u, {}).get("name")} for u in members[c.id]
                ],
                "lastMessage": message_view(last[0], read_at=last[1]) if last else None,
                "lastMessageAt": iso(c.last_message_at),
                "unreadCount": unread[c.id],
            }
        )
    return connection_view(page, nodes)


def conversation_messages(
    session: Session,
    viewer: Viewer,
    *,
    conversation_id: Any,
    pagination: dict[str, Any] | None = None,
) -> dict[str, Any]:
    me = require_authenticated(viewer)
    key = member_conversation(session, me, conversation_id)
    statement = (
        select(Message)
        .join(MessageReceipt, MessageReceipt.message_id == Message.id)
        .where(
            Message.conversation_id == key,
            MessageReceipt.user_id == me,
            MessageReceipt.hidden_at.is_(None),
        )
    )
    page = keyset_page(
        session,
        statement,
        name="conversationMessages",
        arguments={"conversation": str(key), "user": str(me)},
        pagination=pagination,
        columns=(Message.created_at, Message.id),
        kinds=(type(utcnow()), uuid.UUID),
        key=lambda m: (m.created_at, m.id),
    )
    ids = [m.id for m in page.nodes]
    read = dict(
        session.execute(
            select(MessageReceipt.message_id, MessageReceipt.read_at).where(
                MessageReceipt.user_id == me, MessageReceipt.message_id.in_(ids)
            )
        ).all()
    )
    names = users.member_facts(session, list({m.sender_id for m in page.nodes}))
    nodes = [
        message_view(m, read_at=read.get(m.id), sender_name=names.get(m.sender_id, {}).get("name"))
        for m in page.nodes
    ]
    return connection_view(page, nodes)


def unread_message_count(session: Session, viewer: Viewer) -> dict[str, Any]:
    me = require_authenticated(viewer)
    rows = session.execute(
        select(MessageReceipt.conversation_id, func.count())
        .where(
            MessageReceipt.user_id == me,
            MessageReceipt.read_at.is_(None),
            MessageReceipt.hidden_at.is_(None),
        )
        .group_by(MessageReceipt.conversation_id)
    ).all()
    return {
        "total": sum(count for _, count in rows),
        "byConversation": [{"conversationId": str(c), "count": n} for c, n in rows],
    }


def is_member(session: Session, user_id: uuid.UUID, conversation_id: Any) -> bool:
    try:
        member_conversation(session, user_id, conversation_id)
    except errors.ConversationNotFound:
        return False
    return True
