"""Prometheus metrics: request timings here, job counts and durations read from the jobs
table at scrape time (so every worker's work is counted, whichever process did it)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import func, select

from lms.admin.broker_stats import queue_depths
from lms.admin.inspection import inspect_workers
from lms.admin.workers import gone_workers
from lms.config import Settings
from lms.db import session_scope
from lms.jobs.models import Job, JobStatus, QueueState
from lms.jobs.queues import QUEUES
from lms.models import utcnow
from lms.observability.metrics import REGISTRY, merged
from lms.observability.multiprocess import directory_families, writes_to_directory

GRAPHQL_SECONDS = Histogram(
    "lms_graphql_request_seconds", "GraphQL HTTP request time", ["outcome"], registry=REGISTRY
)
# Labelled by the root field (bounded by the schema), never by the client's operationName.
GRAPHQL_OPERATIONS = Counter(
    "lms_graphql_operations",
    "GraphQL operations by root field and outcome (ok, error)",
    ["operation", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_ERRORS = Counter(
    "lms_graphql_errors",
    "GraphQL errors by root field and stable error code",
    ["operation", "code"],
    registry=REGISTRY,
)
GRAPHQL_OPERATION_SECONDS = Histogram(
    "lms_graphql_operation_seconds",
    "GraphQL operation time by root field",
    ["operation"],
    registry=REGISTRY,
)


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _age(now, then) -> float:
    then = then if then.tzinfo else then.replace(tzinfo=now.tzinfo)  # SQLite drops the zone
    return max(0.0, (now - then).total_seconds())


class JobCollector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self):
        counts = GaugeMetricFamily(
            "lms_jobs", "Jobs by queue and status", labels=["queue", "status"]
        )
        durations = GaugeMetricFamily(
            "lms_job_duration_seconds",
            "Run time of jobs finished in the last hour",
            labels=["queue", "quantile"],
        )
        oldest = GaugeMetricFamily(
            "lms_queue_oldest_waiting_seconds",
            "Age of the oldest QUEUED job per queue (the OLDEST_WAITING alert's figure)",
            labels=["queue"],
        )
        outbox = GaugeMetricFamily(
            "lms_outbox_unpublished",
            "Committed QUEUED jobs not stamped as published (stamps land up to 5 s late)",
        )
        outbox_age = GaugeMetricFamily(
            "lms_outbox_oldest_seconds", "Age of the oldest unpublished job (0 when none)"
        )
        now = utcnow()
        since = now - timedelta(hours=1)
        with session_scope(self.settings) as session:
            for queue, first in session.execute(
                select(Job.queue, func.min(Job.created_at))
                .where(Job.status == JobStatus.QUEUED)
                .group_by(Job.queue)
            ):
                oldest.add_metric([queue], _age(now, first))
            count, first = session.execute(
                select(func.count(), func.min(Job.created_at)).where(
                    Job.status == JobStatus.QUEUED, Job.published_at.is_(None)
                )
            ).one()
            outbox.add_metric([], count)
            outbox_age.add_metric([], _age(now, first) if first is not None else 0.0)
            for queue, status, count in session.execute(
                select(Job.queue, Job.status, func.count()).group_by(Job.queue, Job.status)
            ):
                counts.add_metric([queue, status.value], count)
            finished: dict[str, list[float]] = {}
            for queue, started, finished_at in session.execute(
                select(Job.queue, Job.started_at, Job.finished_at)
                .where(Job.status == JobStatus.SUCCEEDED, Job.finished_at >= since)
                .order_by(Job.finished_at.desc())
                .limit(10_000)
            ):
                if started is not None:
                    finished.setdefault(queue, []).append((finished_at - started).total_seconds())
        for queue, values in finished.items():
            values.sort()
            for q in (0.5, 0.95, 0.99):
                durations.add_metric([queue, str(q)], _quantile(values, q))
        yield counts
        yield durations
        yield oldest
        yield outbox
        yield outbox_age


DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600)


class QueueCollector:
    """Queue depth and consumers straight from the broker, paused queues, worker up, and
    job run-time histograms per kind (jobs finished in the last hour)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self):
        depth = GaugeMetricFamily(
            "lms_queue_depth", "Messages waiting in the broker", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "lms_queue_consumers", "Consumers attached to the queue", labels=["queue"]
        )
        paused = GaugeMetricFamily(
            "lms_queue_paused", "1 while an operator has paused the queue", labels=["queue"]
        )
        up = GaugeMetricFamily(
            "lms_worker_up", "1 when the worker answered inspection, 0 when gone", labels=["worker"]
        )
        answering = GaugeMetricFamily(
            "lms_workers_answering", "Workers that answered the latest inspection"
        )
        inspection = inspect_workers(self.settings)
        for name, stats in queue_depths(QUEUES, self.settings).items():
            if stats.messages is not None:
                depth.add_metric([name], stats.messages)
            count = stats.consumers
            if count is None and inspection.answering:
                count = inspection.consumers_of(name)
            if count is not None:
                consumers.add_metric([name], count)
        for worker in inspection.workers:
            up.add_metric([worker.hostname], 1)
        answering.add_metric([], len(inspection.workers))
        histograms = HistogramMetricFamily(
            "lms_job_run_seconds",
            "Run time of jobs finished in the last hour, per kind",
            labels=["kind"],
        )
        since = utcnow() - timedelta(hours=1)
        with session_scope(self.settings) as session:
            states = {s.queue: s.paused for s in session.query(QueueState)}
            for worker in gone_workers(session, inspection):
                up.add_metric([worker.hostname], 0)
            per_kind: dict[str, list[float]] = {}
            for kind, started, finished_at in session.execute(
                select(Job.kind, Job.started_at, Job.finished_at)
                .where(Job.finished_at >= since, Job.started_at.is_not(None))
                .limit(20_000)
            ):
                per_kind.setdefault(kind, []).append((finished_at - started).total_seconds())
        for name in QUEUES:
            paused.add_metric([name], 1 if states.get(name) else 0)
        for kind, values in per_kind.items():
            buckets = [
                (str(bound), sum(1 for v in values if v <= bound)) for bound in DURATION_BUCKETS
            ]
            buckets.append(("+Inf", len(values)))
            histograms.add_metric([kind], buckets, sum(values))
        yield from (depth, consumers, paused, up, answering, histograms)


class _Merged:
    """This process's metrics plus those its workers wrote to the metrics folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self):
        folder = directory_families(self.settings.metrics_dir)
        # One of several API processes: its own values are in the folder with the others'.
        return merged([] if writes_to_directory() else REGISTRY.collect(), folder)


def render(settings: Settings) -> bytes:
    registry = CollectorRegistry()
    registry.register(JobCollector(settings))
    registry.register(QueueCollector(settings))
    return generate_latest(_Merged(settings)) + generate_latest(registry)
