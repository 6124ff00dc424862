"""Webhook intake on the embedded database: SQLite takes the same one-statement
de-duplication as PostgreSQL."""

from __future__ import annotations

import json
import time

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from lms.config import load_settings
from lms.db import build_sync_engine
from lms.migrate import upgrade
from lms.payments.models import DeliveryOutcome, WebhookDelivery
from lms.payments.service.webhooks import receive
from lms.payments.settings import PaymentSettings
from tests.payments.support import WEBHOOK_SECRET, sign


def test_sqlite_stores_once_and_counts_duplicates(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'lms.db'}", var_dir=tmp_path)
    upgrade(settings)
    engine = build_sync_engine(settings)
    sessions = sessionmaker(engine, expire_on_commit=False)
    stripe = PaymentSettings(secret_key="sk_test", webhook_secret=WEBHOOK_SECRET)
    body = json.dumps(
        {"id": "evt_sqlite", "type": "customer.created", "created": int(time.time()), "data": {}}
    ).encode()
    answers = []
    for _ in range(3):
        with sessions.begin() as session:
            headers = {"Stripe-Signature": sign(body)}
            answers.append(receive(session, body=body, headers=headers, settings=stripe))
    with sessions.begin() as session:
        forged = receive(
            session, body=body, headers={"Stripe-Signature": "t=1,v1=00"}, settings=stripe
        )
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.body.get("duplicate", False) for a in answers] == [False, True, True]
    assert forged.status == 400
    with sessions() as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.received_at)).all()
    assert [(r.event_id, r.outcome, r.duplicates) for r in rows] == [
        ("evt_sqlite", DeliveryOutcome.IGNORED, 2),
        (None, DeliveryOutcome.INVALID, 0),
    ]
    engine.dispose()
