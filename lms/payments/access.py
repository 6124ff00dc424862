"""Who may read what, and who has paid access to a course.

`has_course_access` is what the Enrollments module asks before it lets a student join a
paid course: a live purchase of the course, or a live all-access subscription.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from lms.models import utcnow
from lms.payments.errors import PaymentNotFound
from lms.payments.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from lms.security import Viewer, require_authenticated

LIVE_PAYMENT = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
LIVE_SUBSCRIPTION = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


def parse_uuid(value: Any, *, error: type[Exception] = PaymentNotFound, what: str = "payment"):
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise error(f"{what} not found") from None


def subscription_grants_access(sub: Subscription) -> bool:
    if sub.status in LIVE_SUBSCRIPTION:
        return True
    # A failed renewal keeps access for the grace period while Stripe retries the card.
    return sub.status == SubscriptionStatus.PAST_DUE and bool(
        sub.grace_until and sub.grace_until > utcnow()
    )


def has_course_access(session: Session, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """A live purchase of the course, or an all-access subscription in good standing."""
    bought = session.scalar(
        select(
            exists().where(
                Payment.user_id == user_id,
                Payment.course_id == course_id,
                Payment.kind == PaymentKind.COURSE,
                Payment.status.in_(LIVE_PAYMENT),
                Payment.revoked_at.is_(None),
            )
        )
    )
    if bought:
        return True
    subscriptions = session.scalars(
        select(Subscription).where(
            Subscription.user_id == user_id,
            or_(
                Subscription.status.in_(LIVE_SUBSCRIPTION),
                Subscription.status == SubscriptionStatus.PAST_DUE,
            ),
        )
    )
    return any(subscription_grants_access(sub) for sub in subscriptions)


def visible_payment(session: Session, viewer: Viewer, payment_id: Any, *, lock: bool = False):
    """The payment if the viewer paid it or is an admin; otherwise PAYMENT_NOT_FOUND, so
    other people's payments are not even confirmed to exist."""
    user_id = require_authenticated(viewer)
    query = select(Payment).where(Payment.id == parse_uuid(payment_id))
    payment = session.scalar(query.with_for_update() if lock else query)
    if payment is None or not (viewer.is_admin or payment.user_id == user_id):
        raise PaymentNotFound("payment not found", code="PAYMENT_NOT_FOUND")
    return payment
