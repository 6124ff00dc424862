"""The one place that talks to Stripe (through the `stripe` library).

Every POST carries an `Idempotency-Key` made from our own ids, so a retried request (a
network error, a re-run job) can never create a second session, refund or subscription.
Calls block on the network: the API runs them off its event loop (`asyncio.to_thread`).
"""

from __future__ import annotations

import functools
from typing import Any

import stripe

from lms.payments.errors import PaymentProviderError, PaymentsNotConfigured
from lms.payments.settings import PaymentSettings, payment_settings


@functools.lru_cache(maxsize=4)
def _client(secret_key: str, api_base: str) -> stripe.StripeClient:
    addresses = {"api": api_base} if api_base else None
    return stripe.StripeClient(secret_key, base_addresses=addresses, max_network_retries=2)


def client(settings: PaymentSettings | None = None) -> stripe.StripeClient:
    settings = settings or payment_settings()
    if not settings.configured:
        raise PaymentsNotConfigured(
            "payments are not configured on this server (LMS_STRIPE_SECRET_KEY is unset)",
            code="PAYMENTS_NOT_CONFIGURED",
        )
    return _client(settings.secret_key, settings.api_base)


def call(fn, *args: Any, key: str | None = None) -> Any:
    """Run one Stripe call (`fn(*args)`); Stripe's refusals become PAYMENT_PROVIDER_ERROR and
    network failures stay `ConnectionError`s, which jobs retry."""
    options = {"idempotency_key": key} if key else {}
    try:
        return fn(*args, options=options)
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise ConnectionError(f"Stripe unreachable: {error}") from error
    except stripe.StripeError as error:
        message = getattr(error, "user_message", None) or str(error) or type(error).__name__
        raise PaymentProviderError(
            f"Stripe: {message}", code="PAYMENT_PROVIDER_ERROR", status=error.http_status
        ) from error


def plain(obj: Any) -> dict:
    """A Stripe object as plain JSON-able dicts."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
