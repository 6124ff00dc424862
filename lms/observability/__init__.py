"""Observability: errors to Sentry (`sentry.py`), traces over OTLP (`tracing.py`), and the
context both attach to what they send (`context.py`). Each is off until configured."""
