"""Unexpected errors to Sentry, from the API, the workers and the scheduler.

Off unless `LMS_SENTRY_DSN` is set. What counts as unexpected is what the process logs at
ERROR (an `INTERNAL_SERVER_ERROR` of a resolver, a crashed job, a failed housekeeping
pass): expected errors (`LmsError` codes a client or an educator can act on) are logged
at INFO or recorded on the job and never sent. Every event carries the context tags
(`lms.observability.context`) and is scrubbed of e-mail addresses and local variables.
"""

from __future__ import annotations

import logging
import re
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from lms.observability.context import current_tags

log = logging.getLogger(__name__)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}\b")  # not `lyceum@0.1.0`
REDACTED = "[email]"


def check_dsn(dsn: str) -> str:
    """A DSN Sentry's SDK accepts: `https://KEY@HOST/PROJECT`; a ValueError says what is
    wrong, so a typo stops the start with one line instead of failing silently later."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("http", "https"):
        raise ValueError("a Sentry DSN starts with https:// (or http://)")
    if not parts.username or not parts.hostname:
        raise ValueError("a Sentry DSN has a public key and a host: https://KEY@HOST/PROJECT")
    if not parts.path.rstrip("/").rsplit("/", 1)[-1].isdigit():
        raise ValueError("a Sentry DSN ends with its numeric project id")
    return dsn


def release() -> str:
    try:
        return f"lyceum@{metadata.version('lyceum')}"
    except metadata.PackageNotFoundError:
        return "lyceum@dev"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return EMAIL.sub(REDACTED, value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def before_send(event: dict, _hint: dict) -> dict:
    """Tag the event with where it happened and drop personal data: the user is an id,
    e-mail addresses anywhere in messages, exception values or breadcrumbs are masked."""
    tags = current_tags()
    event["tags"] = {**(event.get("tags") or {}), **tags}
    event["user"] = {"id": tags["user_id"]} if "user_id" in tags else {}
    event.pop("server_name", None)
    return _scrub(event)


def init_sentry(settings, component: str) -> bool:
    """Start the SDK in this process (`component`: api, worker or scheduler)."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.ariadne import AriadneIntegration
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    from lms.observability.sentry_transport import CountingTransport

    integrations: list = [
        LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        CeleryIntegration(monitor_beat_tasks=False),
    ]
    if component == "api":
        from sentry_sdk.integrations.quart import QuartIntegration

        integrations.append(QuartIntegration())
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=settings.sentry_release or release(),
        environment=settings.sentry_environment or settings.env,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        trace_propagation_targets=[],  # no sentry-trace headers to Stripe, S3, SendGrid…
        send_default_pii=False,
        include_local_variables=False,  # frame locals hold e-mails, tokens, payloads
        max_request_body_size="never",
        before_send=before_send,
        before_breadcrumb=lambda crumb, _hint: _scrub(crumb),
        integrations=integrations,
        # Ariadne's integration reports every GraphQL error, expected ones included; ours
        # reports what `web.errors` logs at ERROR (INTERNAL_SERVER_ERROR) only.
        disabled_integrations=[AriadneIntegration()],
        # A dead Sentry never slows requests: events wait in a bounded queue, sent by a
        # background thread; what overflows or fails is dropped and counted on /metrics.
        transport=CountingTransport,
        transport_queue_size=settings.sentry_queue_size,
        shutdown_timeout=2,
    )
    sentry_sdk.set_tag("component", component)
    log.info("sentry: reporting %s errors to %s", component, urlsplit(settings.sentry_dsn).hostname)
    return True


def flush(timeout: float = 2.0) -> None:
    """Send what is queued before a process ends (a pool child may exit without atexit)."""
    import sys

    if (sdk := sys.modules.get("sentry_sdk")) is not None and sdk.is_initialized():
        sdk.flush(timeout)
