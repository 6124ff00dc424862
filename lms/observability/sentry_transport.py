"""Sentry's HTTP transport, counting the error events it could not send: those that found
its bounded queue full and those the ingest refused or never answered. Imported only with
Sentry on."""

from __future__ import annotations

from sentry_sdk.transport import HttpTransport

from lms.observability.telemetry_loss import dropped

# The SDK's reasons for an envelope item that left the process's hands and never arrived;
# the others (sample_rate, before_send, event_processor…) are choices, not losses.
QUEUE_FULL = {"queue_overflow"}
NOT_DELIVERED = {"network_error", "send_error", "ratelimit_backoff"}
COUNTED = {"error", "transaction"}  # events, not the spans or bytes also tallied with them


class CountingTransport(HttpTransport):
    def record_lost_event(self, reason, data_category=None, item=None, *, quantity=1):
        category = item.data_category if item is not None else data_category
        if category in COUNTED and (reason in QUEUE_FULL or reason in NOT_DELIVERED):
            dropped("sentry", "queue_full" if reason in QUEUE_FULL else "export_failed")
        super().record_lost_event(reason, data_category, item, quantity=quantity)
