"""The modules' own Prometheus metrics (beside the GraphQL ones in web/metrics.py).

The API counts its own (websocket connections, subscriptions, event-bus reconnects) in
memory; workers and the scheduler write theirs to files (`multiprocess.py`), which the
API's `/metrics` adds in with `merged`.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry()

WEBSOCKET_CONNECTIONS = Gauge(
    "lms_websocket_connections",
    "Open GraphQL websocket connections",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "lms_subscriptions",
    "Live subscriptions by bus topic",
    ["topic"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
BUS_RECONNECTS = Counter(
    "lms_event_bus_reconnects",
    "Times an event-bus listener connected after a lost or failed connection",
    registry=REGISTRY,
)
RELAY_REPUBLISHED = Counter(
    "lms_relay_republished",
    "Committed jobs the outbox relay published (their after-commit publish never happened)",
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "lms_deliveries",
    "Email and push deliveries by channel and outcome (sent, bounced, failed, deferred)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
MEDIA_SECONDS = Counter(
    "lms_media_transcoded_seconds",
    "Seconds of video transcoded (the source's duration, counted when a transcode ends)",
    registry=REGISTRY,
)
MEDIA_CPU_SECONDS = Counter(
    "lms_media_transcode_cpu_seconds",
    "CPU seconds (user + system) ffmpeg spent on those transcodes",
    registry=REGISTRY,
)
TELEMETRY_DROPPED = Counter(
    "lms_telemetry_dropped",
    "Spans (otlp) and error events (sentry) never sent: a full queue or a failed export",
    ["sink", "reason"],
    registry=REGISTRY,
)


def delivered(channel: str, outcome: str, count: int = 1) -> None:
    if count:
        count_safely(lambda: DELIVERIES.labels(channel, outcome), count)


def count_safely(counter: Callable[[], Counter], amount: float) -> None:
    """Count in a job or an SDK's thread: a metrics folder that cannot be written (full
    disk, wrong owner) is logged, never the job's failure (a labelled child opens its file
    when first made)."""
    try:
        counter().inc(amount)
    except OSError:
        log.warning("a metric was not counted", exc_info=True)


@contextmanager
def transcoding(media_seconds: float) -> Iterator[None]:
    """Count a transcode's media seconds and ffmpeg's CPU time, once it succeeded.

    The CPU time is that of this process's reaped children over the block: one transcode
    at a time per worker process (the media queue's prefork pool), so it is ffmpeg's."""

    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = children()
    yield
    count_safely(lambda: MEDIA_CPU_SECONDS, max(0.0, children() - before))
    count_safely(lambda: MEDIA_SECONDS, max(0.0, media_seconds))


def merged(*sources: Iterable[Metric]) -> list[Metric]:
    """One family per name: samples with the same name and labels are added up (an API and
    its workers both count deliveries, say); `_created` keeps the earliest."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple, object]] = {}
    for source in sources:
        for family in source:
            into = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            samples = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                earlier = samples.get(key)
                if earlier is None:
                    samples[key] = sample
                elif sample.name.endswith("_created"):
                    samples[key] = min(earlier, sample, key=lambda s: s.value)
                else:
                    samples[key] = earlier._replace(value=earlier.value + sample.value)
            if family.type != "unknown" and into.type == "unknown":
                into.type = family.type
    for name, family in families.items():
        family.samples = list(values[name].values())
    return list(families.values())
