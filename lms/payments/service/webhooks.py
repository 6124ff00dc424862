"""Webhook intake: verify, store, de-duplicate. Nothing here acts on an event.

Every POST is stored (headers, body, valid or not) before the answer; a verified event gets
a unique `event_id`, so a re-delivery, even a concurrent one, is answered 200 and counted.
Storing is the whole request path: one `INSERT … ON CONFLICT` and one commit, because the
delivery is what must be durable before the 200 (Stripe does not resend after a 2xx). The
handling jobs are recorded afterwards, in batches, by `service/handling_jobs.py`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import Insert, Row, func, insert, select
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
_DELIVERIES = WebhookDelivery.__table__


@dataclass(frozen=True)
class Receipt:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Intake:
    """One delivery, checked: the row to store and what to answer once it is stored."""

    row: dict[str, Any]
    status: int
    error: str | None = None

    @property
    def verified(self) -> bool:
        return self.row["valid"]

    def statement(self, dialect: str) -> Insert:
        """The one statement that stores it (executed with `row` as its parameters)."""
        return _STORE_VERIFIED[dialect] if self.verified else _STORE_INVALID

    def stored(self, row: Row) -> Stored:
        """The answer for the stored row, and whether a relay must run once committed: for a
        new delivery to handle, and for a duplicate of one still without its job (the
        duplicate's row lock may have made a relay skip it)."""
        duplicates, outcome, job_id = row
        unqueued = self.verified and outcome == DeliveryOutcome.QUEUED and job_id is None
        if not self.verified:
            receipt = Receipt(self.status, {"received": False, "error": self.error})
        elif duplicates:
            receipt = Receipt(200, {"received": True, "duplicate": True})
        else:
            receipt = Receipt(200, {"received": True, "ignored": outcome != DeliveryOutcome.QUEUED})
        return Stored(receipt, unqueued)


@dataclass(frozen=True)
class Stored:
    receipt: Receipt
    needs_relay: bool


def _store_verified(insert_for) -> Insert:
    return (
        insert_for(_DELIVERIES)
        .on_conflict_do_update(
            index_elements=["event_id"], set_={"duplicates": _DELIVERIES.c.duplicates + 1}
        )
        .returning(*_RETURNED)
    )


# Built once, compiled once per set of columns (SQLAlchemy caches it): building an INSERT
# with its values on every request cost more than the round trip. A verified event's
# re-delivery (even a concurrent one: it waits on the unique index) only counts a duplicate;
# RETURNING says which happened (`duplicates` 0: stored now) and whether the stored row still
# waits for its handling job.
_RETURNED = (_DELIVERIES.c.duplicates, _DELIVERIES.c.outcome, _DELIVERIES.c.job_id)
_STORE_INVALID = insert(_DELIVERIES).returning(*_RETURNED)
_STORE_VERIFIED = {
    "postgresql": _store_verified(postgresql.insert),
    "sqlite": _store_verified(sqlite.insert),
}


def check(body: bytes, headers: dict[str, str], settings: PaymentSettings | None = None) -> Intake:
    """Verify one delivery (no database): the row to store and the answer it earns."""
    settings = settings or payment_settings()
    text = body.decode("utf-8", errors="replace")
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in KEPT_HEADERS}
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    claimed = event.get("id") if isinstance(event, dict) else None
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id(),
        "headers": kept,
        "body": text[:MAX_STORED_BODY],
        "claimed_event_id": str(claimed)[:255] if claimed else None,
        "received_at": now,
        "source": "webhook",
        "duplicates": 0,
        "valid": False,
        "outcome": DeliveryOutcome.INVALID,
    }
    if not settings.webhook_secret:
        return _invalid(row, 503, "webhooks are not configured on this server")
    try:
        stripe.WebhookSignature.verify_header(
            text,
            kept.get("stripe-signature"),
            settings.webhook_secret,
            tolerance=settings.webhook_tolerance_seconds,
        )
        if event is None:
            raise ValueError("the body is not JSON")
        event_id, event_type = str(event["id"]), str(event["type"])
        created = datetime.fromtimestamp(int(event["created"]), UTC)
    except stripe.SignatureVerificationError as error:
        return _invalid(row, 400, f"signature: {error.user_message or error}")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return _invalid(row, 400, f"not a Stripe event: {error}")
    return Intake(_verified(row, event_id, event_type, created), 200)


def _invalid(row: dict[str, Any], status: int, error: str) -> Intake:
    return Intake({**row, "error": error}, status, error)


def _verified(row: dict[str, Any], event_id: str, event_type: str, created: datetime) -> dict:
    handled = event_type in HANDLED_EVENTS
    return {
        **row,
        "valid": True,
        "event_id": event_id,
        "event_type": event_type,
        "event_created": created,
        "outcome": DeliveryOutcome.QUEUED if handled else DeliveryOutcome.IGNORED,
        "handled_at": None if handled else row["received_at"],
    }


def store(session: Session, intake: Intake) -> Receipt:
    """Store a checked delivery in `session`'s transaction (one statement)."""
    statement = intake.statement(session.get_bind().dialect.name)
    return intake.stored(session.execute(statement, intake.row).one()).receipt


def receive(
    session: Session,
    *,
    body: bytes,
    headers: dict[str, str],
    settings: PaymentSettings | None = None,
) -> Receipt:
    """Verify and store one delivery. Never raises for bad input: the answer and the stored
    row say what was wrong. Its handling job is recorded later (`handling_jobs`)."""
    return store(session, check(body, headers, settings))


def store_fetched(session: Session, event: dict) -> bool:
    """Store an event read from Stripe's API (reconciliation); False when already known."""
    if session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.event_id == event["id"])):
        return False
    row = {
        "id": new_id(),
        "headers": {},
        "body": json.dumps(event),
        "claimed_event_id": None,
        "received_at": utcnow(),
        "source": "reconcile",
        "duplicates": 0,
    }
    created = datetime.fromtimestamp(int(event["created"]), UTC)
    # Fetched over Stripe's authenticated API: no signature to check.
    intake = Intake(_verified(row, str(event["id"]), str(event["type"]), created), 200)
    return store(session, intake).body.get("duplicate") is not True


def _queue(session: Session, delivery_id: uuid.UUID, event_id: str) -> None:
    """One handling job now, in the caller's transaction (an admin's re-handle)."""
    job = enqueue(
        session,
        HANDLE_JOB,
        {"delivery_id": str(delivery_id)},
        subject=("stripe_event", event_id),
    )
    session.flush()  # the job row before the reference to it
    session.execute(
        _DELIVERIES.update().where(_DELIVERIES.c.id == delivery_id).values(job_id=job.id)
    )


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
