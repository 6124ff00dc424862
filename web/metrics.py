"""Prometheus metrics: request timings here, job counts and durations read from the jobs
table at scrape time (so every worker's work is counted, whichever process did it)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from lms.config import Settings
from lms.db import session_scope
from lms.jobs.models import Job, JobStatus
from lms.models import utcnow

REGISTRY = CollectorRegistry()
GRAPHQL_SECONDS = Histogram(
    "lms_graphql_request_seconds", "GraphQL HTTP request time", ["outcome"], registry=REGISTRY
)


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class JobCollector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self):
        counts = GaugeMetricFamily("lms_jobs", "Jobs by queue and status", labels=["queue", "status"])
        durations = GaugeMetricFamily(
            "lms_job_duration_seconds",
            "Run time of jobs finished in the last hour",
            labels=["queue", "quantile"],
        )
        since = utcnow() - timedelta(hours=1)
        with session_scope(self.settings) as session:
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


def render(settings: Settings) -> bytes:
    registry = CollectorRegistry()
    registry.register(JobCollector(settings))
    return generate_latest(REGISTRY) + generate_latest(registry)
