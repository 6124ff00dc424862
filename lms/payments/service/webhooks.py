"""Webhook intake: verify, store, de-duplicate, queue. Nothing here acts on an event.

Every POST is stored (headers, body, valid or not) before the answer; a verified event gets
a unique `event_id`, so a re-delivery, even a concurrent one, is answered 200 and ignored.
Handling runs as a job (`payments.handle_event`), queued in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lms import pagination
from lms.errors import Conflict
from lms.jobs.service import enqueue
from lms.models import new_id, utcnow
from lms.payments.access import parse_uuid
from lms.payments.errors import PaymentNotFound
from lms.payments.events import HANDLE_JOB, HANDLED_EVENTS
from lms.payments.models import DeliveryOutcome, WebhookDelivery
from lms.payments.settings import PaymentSettings, payment_settings
from lms.security import Role, Viewer, require_role

KEPT_HEADERS = ("stripe-signature", "content-type", "user-agent", "content-length")
MAX_STORED_BODY = 256 * 1024


@dataclass(frozen=True)
class Receipt:
    status: int
    body: dict[str, Any]


def _claimed_id(text: str) -> str | None:
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return str(value)[:255] if value else None


def receive(
    session: Session,
    *,
    body: bytes,
    headers: dict[str, str],
    settings: PaymentSettings | None = None,
) -> Receipt:
    """Verify and store one delivery; queue its handling. Never raises for bad input: the
    answer and the stored row say what was wrong."""
    settings = settings or payment_settings()
    text = body.decode("utf-8", errors="replace")
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in KEPT_HEADERS}
    delivery = WebhookDelivery(
        headers=kept,
        body=text[:MAX_STORED_BODY],
        claimed_event_id=_claimed_id(text),
        received_at=utcnow(),
    )
    if not settings.webhook_secret:
        return _invalid(session, delivery, 503, "webhooks are not configured on this server")
    try:
        stripe.WebhookSignature.verify_header(
            text,
            kept.get("stripe-signature"),
            settings.webhook_secret,
            tolerance=settings.webhook_tolerance_seconds,
        )
        event = json.loads(text)
        event_id, event_type = str(event["id"]), str(event["type"])
        created = datetime.fromtimestamp(int(event["created"]), UTC)
    except stripe.SignatureVerificationError as error:
        return _invalid(session, delivery, 400, f"signature: {error.user_message or error}")
    except (ValueError, KeyError, TypeError) as error:
        return _invalid(session, delivery, 400, f"not a Stripe event: {error}")
    delivery.valid, delivery.event_id, delivery.event_type = True, event_id, event_type
    delivery.event_created = created
    return _store(session, delivery, source="webhook")


def _invalid(session: Session, delivery: WebhookDelivery, status: int, error: str) -> Receipt:
    delivery.valid, delivery.outcome, delivery.error = False, DeliveryOutcome.INVALID, error
    session.add(delivery)
    return Receipt(status, {"received": False, "error": error})


def _insert_new(session: Session, delivery: WebhookDelivery) -> bool:
    """Insert unless the event id is stored already (ON CONFLICT DO NOTHING: one statement,
    and a concurrent twin waits on the unique index, then finds the row)."""
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        column.key: getattr(delivery, column.key)
        for column in WebhookDelivery.__table__.columns
        if getattr(delivery, column.key) is not None
    }
    inserted = session.execute(
        insert(WebhookDelivery)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(WebhookDelivery.id)
    ).scalar()
    return inserted is not None


def _store(session: Session, delivery: WebhookDelivery, *, source: str) -> Receipt:
    handled = delivery.event_type in HANDLED_EVENTS
    delivery.id, delivery.source = new_id(), source
    delivery.outcome = DeliveryOutcome.QUEUED if handled else DeliveryOutcome.IGNORED
    delivery.handled_at = None if handled else utcnow()
    delivery.duplicates = 0
    if not _insert_new(session, delivery):
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_id == delivery.event_id)
            .values(duplicates=WebhookDelivery.duplicates + 1)
        )
        return Receipt(200, {"received": True, "duplicate": True})
    if handled:
        _queue(session, delivery.id, delivery.event_id)
    return Receipt(200, {"received": True, "ignored": not handled})


def _queue(session: Session, delivery_id: uuid.UUID, event_id: str) -> None:
    job = enqueue(
        session,
        HANDLE_JOB,
        {"delivery_id": str(delivery_id)},
        subject=("stripe_event", event_id),
    )
    session.flush()  # the job row before the reference to it
    session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(job_id=job.id)
    )


def store_fetched(session: Session, event: dict) -> bool:
    """Store an event read from Stripe's API (reconciliation); False when already known."""
    if session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.event_id == event["id"])):
        return False
    delivery = WebhookDelivery(
        event_id=event["id"],
        event_type=event["type"],
        event_created=datetime.fromtimestamp(int(event["created"]), UTC),
        valid=True,  # fetched over Stripe's authenticated API: no signature to check
        body=json.dumps(event),
        received_at=utcnow(),
    )
    return _store(session, delivery, source="reconcile").body.get("duplicate") is not True


# --- admins -----------------------------------------------------------------------------------


def webhook_deliveries(
    session: Session,
    viewer: Viewer,
    *,
    outcome: Any = None,
    first: int | None = None,
    after: str | None = None,
) -> pagination.Connection[WebhookDelivery]:
    """Stored deliveries, newest first (admins)."""
    require_role(viewer, Role.ADMIN)
    where = [] if outcome is None else [WebhookDelivery.outcome == DeliveryOutcome(outcome)]
    request = pagination.page_request(
        {"first": first, "after": after},
        query=pagination.query_key("paymentWebhookDeliveries", {"outcome": outcome}),
    )
    query = select(WebhookDelivery).where(*where)
    if request.after is not None:
        try:
            moment, last = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        except (IndexError, TypeError, ValueError):
            raise pagination.invalid_cursor("not a cursor of this list") from None
        query = query.where(
            (WebhookDelivery.received_at < moment)
            | ((WebhookDelivery.received_at == moment) & (WebhookDelivery.id < last))
        )
    rows = session.scalars(
        query.order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc()).limit(
            request.first + 1
        )
    ).all()
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where))
    return pagination.connection(
        list(rows), request, lambda d: [d.received_at.isoformat(), str(d.id)], total
    )


def rehandle_delivery(session: Session, viewer: Viewer, *, id: Any) -> WebhookDelivery:
    """Queue a failed delivery's handling again (admins)."""
    require_role(viewer, Role.ADMIN)
    delivery = session.get(
        WebhookDelivery,
        parse_uuid(id, error=PaymentNotFound, what="delivery"),
        with_for_update=True,
    )
    if delivery is None:
        raise PaymentNotFound("webhook delivery not found", code="WEBHOOK_DELIVERY_NOT_FOUND")
    if not delivery.valid or delivery.outcome != DeliveryOutcome.FAILED:
        raise Conflict(
            "only a verified delivery whose handling failed can be handled again",
            code="DELIVERY_NOT_FAILED",
        )
    delivery.outcome, delivery.error, delivery.handled_at = DeliveryOutcome.QUEUED, None, None
    session.flush()
    _queue(session, delivery.id, delivery.event_id)
    session.refresh(delivery)
    return delivery
