"""Reading payments: one payment, and a user's history (newest first, keyset-paginated)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from lms import pagination
from lms.errors import Forbidden
from lms.payments.access import visible_payment
from lms.payments.models import Payment, PaymentStatus
from lms.security import Viewer, require_authenticated


def get_payment(session: Session, viewer: Viewer, *, id: Any) -> Payment:
    """One payment, for its buyer and admins."""
    return visible_payment(session, viewer, id)


def get_payment_history(
    session: Session, viewer: Viewer, *, input: dict[str, Any] | None = None
) -> pagination.Connection[Payment]:
    """The viewer's payments (admins: anyone's with `userId`, or everyone's), newest first."""
    user_id = require_authenticated(viewer)
    input = input or {}
    wanted_user = input.get("user_id")
    where = []
    if wanted_user is not None or not viewer.is_admin:
        target = user_id if wanted_user is None else _uuid(wanted_user)
        if target != user_id and not viewer.is_admin:
            raise Forbidden("only admins see other people's payments", code="FORBIDDEN")
        where.append(Payment.user_id == target)
    status = input.get("status")
    if status is not None:
        where.append(Payment.status == PaymentStatus(status))
    request = pagination.page_request(
        {"first": input.get("first"), "after": input.get("after")},
        query=pagination.query_key(
            "getPaymentHistory", {"user": str(wanted_user or user_id), "status": status}
        ),
    )
    query = select(Payment).where(*where)
    if request.after is not None:
        try:
            moment, last = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        except (IndexError, TypeError, ValueError):
            raise pagination.invalid_cursor("not a cursor of this list") from None
        query = query.where(
            or_(Payment.created_at < moment, and_(Payment.created_at == moment, Payment.id < last))
        )
    rows = session.scalars(
        query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(request.first + 1)
    ).all()
    total = session.scalar(select(func.count()).select_from(Payment).where(*where))
    return pagination.connection(
        list(rows), request, lambda p: [p.created_at.isoformat(), str(p.id)], total
    )


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Forbidden("only admins see other people's payments", code="FORBIDDEN") from None
