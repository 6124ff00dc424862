"""The Payments module's error codes (each also a value of `ErrorCode` in the SDL)."""

from __future__ import annotations

from lms.errors import Conflict, LmsError, NotFound


class PaymentsNotConfigured(LmsError):
    code = "PAYMENTS_NOT_CONFIGURED"


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"


class RefundNotFound(NotFound):
    code = "REFUND_NOT_FOUND"


class SubscriptionNotFound(NotFound):
    code = "SUBSCRIPTION_NOT_FOUND"


class RefundNotEligible(Conflict):
    code = "REFUND_NOT_ELIGIBLE"


class PaymentProviderError(LmsError):
    """Stripe refused or could not be reached; the message says which."""

    code = "PAYMENT_PROVIDER_ERROR"
