"""Reconciliation: list Stripe's recent events and handle any whose webhook never arrived,
so a missed delivery costs minutes, not a lost sale, and resend refunds whose request got no
answer (`payments.reconcile`, on a schedule). Recovered events are stored like deliveries and
their handling jobs recorded in one batch at the end (`handling_jobs.relay_stored`)."""

from __future__ import annotations

import time

from lms.db import session_scope
from lms.payments import gateway
from lms.payments.events import HANDLED_EVENTS
from lms.payments.service.handling_jobs import relay_stored
from lms.payments.service.refunds import resend_unanswered
from lms.payments.service.webhooks import store_fetched
from lms.payments.settings import PaymentSettings, payment_settings


def reconcile(settings: PaymentSettings | None = None) -> dict[str, int]:
    """Store and queue every handled-type event of the look-back window not seen yet."""
    settings = settings or payment_settings()
    if not settings.configured:
        return {"listed": 0, "recovered": 0, "refunds_resent": 0}
    stripe = gateway.client(settings)
    since = int(time.time()) - settings.reconcile_minutes * 60
    listed = recovered = 0
    page = gateway.call(stripe.v1.events.list, {"created": {"gte": since}, "limit": 100})
    for event in page.auto_paging_iter():
        listed += 1
        data = gateway.plain(event)
        if data.get("type") not in HANDLED_EVENTS:
            continue
        with session_scope() as session:  # one event per transaction: a failure loses one
            if store_fetched(session, data):
                recovered += 1
    if recovered:
        relay_stored()
    resent = resend_unanswered(settings)
    return {"listed": listed, "recovered": recovered, "refunds_resent": resent}
