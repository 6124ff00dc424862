"""Payments: course purchases and subscription invoices, refunds, subscriptions, Stripe
customers, and every webhook delivery as received.

Money is an integer amount in the currency's minor units plus an ISO currency code
(upper case here; Stripe takes it lower case). No ORM relationships: reads are explicit.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.models import Base, new_id, utcnow


class PaymentKind(enum.StrEnum):
    COURSE = "COURSE"
    SUBSCRIPTION = "SUBSCRIPTION"


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"  # checkout open, or paid by a method that settles later
    PAID = "PAID"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class RefundStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class SubscriptionStatus(enum.StrEnum):
    INCOMPLETE = "INCOMPLETE"
    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    UNPAID = "UNPAID"
    CANCELED = "CANCELED"
    INCOMPLETE_EXPIRED = "INCOMPLETE_EXPIRED"


class DeliveryOutcome(enum.StrEnum):
    INVALID = "INVALID"  # bad signature or body: never handled
    QUEUED = "QUEUED"  # to handle; `job_id` is set once a relay has recorded its job
    HANDLED = "HANDLED"
    IGNORED = "IGNORED"  # a type we do not act on
    FAILED = "FAILED"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=24)


class StripeCustomer(Base):
    __tablename__ = "payment_customers"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # getPaymentHistory: one user's payments, newest first, by status.
        Index("ix_payments_user_created", "user_id", "created_at", "id"),
        # an open checkout to reuse, and access checks: (user, course, status).
        Index("ix_payments_user_course_status", "user_id", "course_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[PaymentKind] = mapped_column(_enum(PaymentKind), default=PaymentKind.COURSE)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("courses.id", ondelete="SET NULL"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("payment_subscriptions.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[int] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    refunded_amount: Mapped[int] = mapped_column(default=0)
    status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus), default=PaymentStatus.PENDING
    )
    description: Mapped[str] = mapped_column(String(300), default="")
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    checkout_expires_at: Mapped[datetime | None] = mapped_column()
    failure_code: Mapped[str | None] = mapped_column(String(64))
    enrollment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column()
    fulfilled_at: Mapped[datetime | None] = mapped_column()  # set once: never fulfil twice
    revoked_at: Mapped[datetime | None] = mapped_column()  # access taken back (full refund)


class Refund(Base):
    __tablename__ = "payment_refunds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[int] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus), default=RefundStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(500))
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    __tablename__ = "payment_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    plan: Mapped[str] = mapped_column(String(100))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus), default=SubscriptionStatus.INCOMPLETE
    )
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    current_period_end: Mapped[datetime | None] = mapped_column()
    grace_until: Mapped[datetime | None] = mapped_column()  # access after a failed renewal
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    canceled_at: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    """One POST to the webhook endpoint, stored before anything acts on it.

    `event_id` is set only for verified deliveries, so a forged one can never occupy a real
    event's id; the unique index makes a re-delivery (even a concurrent one) a no-op.
    """

    __tablename__ = "payment_webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    claimed_event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    event_type: Mapped[str | None] = mapped_column(String(100), index=True)
    event_created: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(16), default="webhook")  # or "reconcile"
    valid: Mapped[bool] = mapped_column(default=False)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[DeliveryOutcome] = mapped_column(
        _enum(DeliveryOutcome), default=DeliveryOutcome.QUEUED, index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    duplicates: Mapped[int] = mapped_column(default=0)  # re-deliveries answered as no-ops
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    handled_at: Mapped[datetime | None] = mapped_column()
