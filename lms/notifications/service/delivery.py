"""Sending: batched email and push jobs, the sweep that releases delayed deliveries.

Exactly once: a job claims its rows (QUEUED → SENDING, one short transaction) before it
sends, marks them SENT after, and skips rows already SENT; an email keeps one Message-ID
derived from its delivery across re-runs, so a resend after a crash mid-send can be
de-duplicated by the receiving server.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.db import session_scope
from lms.errors import LmsError, PermanentJobError, TransientJobError
from lms.mail import mail_backend, render_email
from lms.models import utcnow
from lms.observability import metrics
from lms.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    PushSubscription,
)
from lms.notifications.service import push
from lms.notifications.service.producer import EMAIL_JOB, PUSH_JOB
from lms.notifications.service.unsubscribe import unsubscribe_url
from lms.notifications.settings import notifications_settings
from lms.users import service as users

log = logging.getLogger(__name__)
# A refusal by the recipient's server: the address bounced (not a failure of ours).
BOUNCE_CODES = frozenset({"SMTP_REJECTED", "INVALID_RECIPIENT"})
SWEEP_LIMIT = 5000
# Sent rows are marked in groups; a crash in between resends at most these (same Message-ID).
FINISH_EVERY = 50


def _claim(job_id: uuid.UUID, settings: Settings) -> list[uuid.UUID]:
    """Take the job's rows still to send; SENDING ones are a crashed attempt's and are
    resent."""
    with session_scope(settings) as session:
        claimed = session.scalars(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.job_id == job_id,
                NotificationDelivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]),
            )
            .values(
                status=DeliveryStatus.SENDING,
                attempts=NotificationDelivery.attempts + 1,
                updated_at=utcnow(),
            )
            .returning(NotificationDelivery.id)
        ).all()
    return list(claimed)


def _finish(
    ids: list[uuid.UUID],
    status: DeliveryStatus,
    settings: Settings,
    code: str | None = None,
    message: str | None = None,
) -> None:
    now = utcnow()
    with session_scope(settings) as session:
        session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids))
            .values(
                status=status,
                error_code=code,
                error_message=message and message[:500],
                updated_at=now,
                sent_at=now if status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED) else None,
            )
        )


def _load(
    session: Session, ids: list[uuid.UUID]
) -> list[tuple[NotificationDelivery, Notification]]:
    return list(
        session.execute(
            select(NotificationDelivery, Notification)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(NotificationDelivery.id.in_(ids))
            .order_by(NotificationDelivery.user_id, Notification.created_at)
        ).tuples()
    )


# --- email ----------------------------------------------------------------------------------


def _email_for(
    group: list[tuple[NotificationDelivery, Notification]], contact: dict, settings: Settings
):
    first_delivery, first = group[0]
    unsubscribe = unsubscribe_url(first.user_id, first.type, settings)
    if first_delivery.digest is not None:
        template = "notification_digest"
        context = {
            "name": contact["name"],
            "frequency": first_delivery.digest.value.lower(),
            "items": [
                {"title": n.title, "body": n.body, "link": n.link, "type": n.type.value}
                for _, n in group
            ],
        }
    elif (first.data or {}).get("emailTemplate"):
        template, context = first.data["emailTemplate"], dict(first.data.get("emailContext") or {})
        context.setdefault("name", contact["name"])  # the producer need not look it up
    else:
        template = "notification"
        context = {"name": contact["name"], "title": first.title, "body": first.body}
        context["link"] = first.link
    context["unsubscribe_url"] = unsubscribe
    message = render_email(
        template,
        context,
        to=contact["email"],
        sender=settings.mail_sender,
        message_id=f"<notification-{first_delivery.id}@lyceum.local>",
    )
    # RFC 8058: mail clients offer a one-click unsubscribe that POSTs to this URL.
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def send_emails(job_id: uuid.UUID, settings: Settings) -> dict[str, int]:
    """Send a job's batch: one email per instant delivery, one digest per user's digest
    rows."""
    claimed = _claim(job_id, settings)
    if not claimed:
        return {"sent": 0}
    with session_scope(settings) as session:
        rows = _load(session, claimed)
        contacts = users.contacts(session, list({d.user_id for d, _ in rows}))
        session.expunge_all()
    groups: dict[Any, list] = defaultdict(list)
    for delivery, notification in rows:
        key = (delivery.user_id, delivery.digest) if delivery.digest else delivery.id
        groups[key].append((delivery, notification))
    backend = mail_backend(settings.email_url)
    sent = failed = 0
    transient: LmsError | None = None
    done: list[uuid.UUID] = []  # marked SENT together: one transaction per few dozen emails
    for group in groups.values():
        if len(done) >= FINISH_EVERY:
            _finish(done, DeliveryStatus.SENT, settings)
            sent, done = sent + len(done), []
        ids = [d.id for d, _ in group]
        contact = contacts.get(group[0][0].user_id)
        if contact is None:
            _finish(ids, DeliveryStatus.FAILED, settings, "USER_GONE", "the account was deleted")
            metrics.delivered("email", "failed")
            continue
        try:
            backend.send(_email_for(group, contact, settings))
        except PermanentJobError as error:
            status = DeliveryStatus.BOUNCED if error.code in BOUNCE_CODES else DeliveryStatus.FAILED
            _finish(ids, status, settings, error.code, error.message)
            metrics.delivered("email", status.value.lower())
            failed += 1
            continue
        except (TransientJobError, ConnectionError, TimeoutError) as error:
            transient = error if isinstance(error, LmsError) else TransientJobError(str(error))
            metrics.delivered("email", "deferred")
            continue  # stays SENDING: the job's retry sends it with the same Message-ID
        metrics.delivered("email", "sent")
        done.extend(ids)
    if done:
        _finish(done, DeliveryStatus.SENT, settings)
        sent += len(done)
    if transient is not None:
        raise transient
    return {"sent": sent, "failed": failed}


# --- push -----------------------------------------------------------------------------------


def _push_payload(n: Notification) -> str:
    return json.dumps(
        {
            "id": str(n.id),
            "type": n.type.value,
            "priority": n.priority.value,
            "title": n.title,
            "body": n.body,
            "link": n.link,
        }
    )


def send_pushes(job_id: uuid.UUID, settings: Settings) -> dict[str, int]:
    """Push each of a job's deliveries to every subscription of its user; gone subscriptions
    are deleted."""
    from pywebpush import WebPushException, webpush

    config = notifications_settings()
    claimed = _claim(job_id, settings)
    if not claimed:
        return {"sent": 0}
    with session_scope(settings) as session:
        rows = _load(session, claimed)
        subscriptions: dict[uuid.UUID, list[PushSubscription]] = defaultdict(list)
        for s in session.scalars(
            select(PushSubscription).where(
                PushSubscription.user_id.in_({d.user_id for d, _ in rows})
            )
        ):
            subscriptions[s.user_id].append(s)
        session.expunge_all()
    key = push.vapid()
    sent = 0
    done: list[uuid.UUID] = []
    for delivery, notification in rows:
        ok, gone, error_code = 0, [], "PUSH_NO_SUBSCRIPTION"
        for s in subscriptions.get(delivery.user_id, []):
            try:
                webpush(
                    {"endpoint": s.endpoint, "keys": {"p256dh": s.p256dh, "auth": s.auth}},
                    _push_payload(notification),
                    vapid_private_key=key,
                    vapid_claims={"sub": config.vapid_subject},
                    content_encoding="aes128gcm",
                    ttl=config.push_ttl_seconds,
                    timeout=config.push_timeout_seconds,
                    headers={
                        "Urgency": "high" if notification.priority.value != "NORMAL" else "normal"
                    },
                )
                ok += 1
            except WebPushException as error:
                status = getattr(error.response, "status_code", None)
                if status in (404, 410):
                    gone.append(s.id)
                    error_code = "PUSH_SUBSCRIPTION_GONE"
                else:
                    error_code = f"PUSH_HTTP_{status or 'ERROR'}"
            except OSError:
                error_code = "PUSH_UNREACHABLE"
        if gone:
            with session_scope(settings) as session:
                for subscription_id in gone:
                    push.gone(session, subscription_id)
        metrics.delivered("push", "sent" if ok else "failed")
        if ok:
            done.append(delivery.id)
            if len(done) >= FINISH_EVERY:
                _finish(done, DeliveryStatus.SENT, settings)
                sent, done = sent + len(done), []
        else:
            _finish([delivery.id], DeliveryStatus.FAILED, settings, error_code)
    if done:
        _finish(done, DeliveryStatus.SENT, settings)
        sent += len(done)
    return {"sent": sent}


# --- the sweep ------------------------------------------------------------------------------


def release_due(session: Session, *, now: datetime | None = None) -> int:
    """Hand deliveries whose quiet hours or digest window ended to batched sending jobs.

    A user's digest rows go to one job, which makes them one email."""
    from lms.jobs.service import enqueue

    now = now or utcnow()
    batch = notifications_settings().delivery_batch
    query = (
        select(NotificationDelivery)
        .where(
            NotificationDelivery.status == DeliveryStatus.QUEUED,
            NotificationDelivery.job_id.is_(None),
            NotificationDelivery.not_before <= now,
        )
        .order_by(NotificationDelivery.channel, NotificationDelivery.user_id)
        .limit(SWEEP_LIMIT)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two sweeps never take the same rows
    due = session.scalars(query).all()
    for channel, kind in (
        (NotificationChannel.EMAIL, EMAIL_JOB),
        (NotificationChannel.PUSH, PUSH_JOB),
    ):
        mine = [d for d in due if d.channel == channel]
        chunks: list[list[NotificationDelivery]] = [[]]
        for d in mine:
            # Never split one user's digest across two jobs (it would make two emails).
            previous = chunks[-1][-1] if chunks[-1] else None
            same_digest = previous is not None and d.digest and previous.user_id == d.user_id
            if len(chunks[-1]) >= batch and not same_digest:
                chunks.append([])
            chunks[-1].append(d)
        for chunk in chunks:
            if not chunk:
                continue
            job = enqueue(session, kind, {"deliveries": len(chunk)})
            for d in chunk:
                d.job_id = job.id
    session.flush()
    return len(due)


def settle_abandoned(session: Session) -> int:
    """Deliveries whose sending job ended without sending them (an operator cancelled or
    cleared it, or it failed at its attempt limit) are FAILED with the job's reason, never
    left QUEUED or SENDING for good."""
    from lms.jobs.models import Job, JobStatus

    ended = select(Job.id).where(Job.status.in_((JobStatus.FAILED, JobStatus.CANCELLED)))
    settled = session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]),
            NotificationDelivery.job_id.in_(ended),
        )
        .values(
            status=DeliveryStatus.FAILED,
            error_code="DELIVERY_ABANDONED",
            error_message="its sending job was cancelled or failed before sending it",
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return settled.rowcount or 0
