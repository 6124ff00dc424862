"""Payments configuration from `LMS_STRIPE_*` environment variables (and `.env`).

LMS_STRIPE_SECRET_KEY=sk_live_…        without it paid checkout answers PAYMENTS_NOT_CONFIGURED
LMS_STRIPE_WEBHOOK_SECRET=whsec_…      signs deliveries to POST /webhooks/stripe
LMS_STRIPE_API_BASE=                   another Stripe-compatible API (tests); empty: Stripe
LMS_STRIPE_WEBHOOK_TOLERANCE_SECONDS=300  oldest signature timestamp accepted
LMS_STRIPE_SUCCESS_URL / LMS_STRIPE_CANCEL_URL  where Checkout sends the buyer back
                                       (default: LMS_APP_URL or LMS_PUBLIC_URL + /payments/…)
LMS_STRIPE_CURRENCIES=["USD","EUR","GBP","JPY"]  currencies courses may be sold in
LMS_STRIPE_PLANS={"all-access-monthly":"price_…"}  subscription plans: our name → Stripe price
LMS_STRIPE_REFUND_DAYS=14              refundable within this many days of payment
LMS_STRIPE_REFUND_MAX_PROGRESS=30      … and while the course progress is under this percent
LMS_STRIPE_GRACE_DAYS=7                access kept after a failed subscription renewal
LMS_STRIPE_RECONCILE_MINUTES=180       how far back reconciliation lists Stripe events
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_STRIPE_", env_file=".env", extra="ignore")

    secret_key: str = ""
    webhook_secret: str = ""
    api_base: str = ""
    webhook_tolerance_seconds: int = Field(300, ge=1, le=3600)
    success_url: str = ""
    cancel_url: str = ""
    currencies: list[str] = ["USD", "EUR", "GBP", "JPY"]
    plans: dict[str, str] = {}
    refund_days: int = Field(14, ge=0, le=365)
    refund_max_progress: float = Field(30.0, ge=0, le=100)
    grace_days: int = Field(7, ge=0, le=60)
    reconcile_minutes: int = Field(180, ge=5, le=60 * 24 * 30)

    @property
    def configured(self) -> bool:
        return bool(self.secret_key)


@functools.lru_cache(maxsize=1)
def payment_settings() -> PaymentSettings:
    return PaymentSettings()
