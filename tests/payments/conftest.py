"""Payments tests: the real `stripe` library against a local Stripe-compatible server, the
API and a worker as processes, webhooks delivered over HTTP and signed as Stripe signs."""

from __future__ import annotations

import json
import os

import httpx
import pytest
import stripe

from lms.payments.settings import payment_settings
from tests.payments.stripe_server import StripeServer
from tests.payments.support import WEBHOOK_SECRET, EventWatcher
from tests.support import GraphQLClient, start_api, start_worker

SECRET_KEY = "sk_test_lyceum"


@pytest.fixture(scope="session")
def stripe_server():
    """The Stripe stand-in, a monthly all-access price, and LMS_STRIPE_* pointing at it."""
    server = StripeServer(WEBHOOK_SECRET).start()
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": server.url})
    price = client.v1.prices.create(
        {
            "unit_amount": 1500,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "product_data": {"name": "All access"},
        },
        options={"idempotency_key": "test-price-all-access"},
    )
    os.environ.update(
        {
            "LMS_STRIPE_SECRET_KEY": SECRET_KEY,
            "LMS_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LMS_STRIPE_API_BASE": server.url,
            "LMS_STRIPE_PLANS": json.dumps({"all-access-monthly": price.id}),
        }
    )
    payment_settings.cache_clear()
    server.stripe = client
    yield server
    for name in (
        "LMS_STRIPE_SECRET_KEY",
        "LMS_STRIPE_WEBHOOK_SECRET",
        "LMS_STRIPE_API_BASE",
        "LMS_STRIPE_PLANS",
    ):
        os.environ.pop(name, None)
    payment_settings.cache_clear()


@pytest.fixture(scope="module")
def shop(stripe_server):
    """API and worker processes configured for Stripe; webhooks go to the API."""
    process, base_url = start_api()
    worker = start_worker(queues="default,email")
    stripe_server.send_webhooks_to(f"{base_url}/webhooks/stripe")
    api = GraphQLClient(base_url)
    yield api
    api.close()
    worker.stop()
    process.stop()


@pytest.fixture
def jobs():
    with EventWatcher() as watcher:
        yield watcher


@pytest.fixture
def stripe_http(stripe_server):
    with httpx.Client(base_url=stripe_server.url, timeout=30) as client:
        yield client
