"""A Sentry and a collector that cannot be reached (a closed local port) never stop the
API or the workers: events and spans wait in bounded queues on background threads while
requests are answered and jobs run, and what is never sent is counted on `/metrics` as
`lms_telemetry_dropped_total{sink, reason}`."""

from __future__ import annotations

import httpx

from lms.db import session_scope
from lms.jobs.service import enqueue
from tests.faults.support import wait_until
from tests.observability.test_metrics import samples
from tests.support import JobWatcher, free_port, start_api, start_worker

COURSE = 'query Course { courseBySlug(slug: "no-such-course") { id } }'


def away() -> dict[str, str]:
    closed = free_port()  # nothing listens there
    return {
        "LMS_SENTRY_DSN": f"http://public@127.0.0.1:{closed}/1",
        "LMS_OTEL_ENDPOINT": f"http://127.0.0.1:{closed}",
        "LMS_OTEL_QUEUE_SIZE": "4",  # a few requests' spans fill it
    }


def dropped(metrics_text: str, sink: str) -> float:
    return sum(
        value
        for (name, labels), value in samples(metrics_text).items()
        if name == "lms_telemetry_dropped_total" and ("sink", sink) in labels
    )


def test_requests_are_answered_while_sentry_and_the_collector_are_away():
    api, base_url = start_api(away())
    try:
        for _ in range(5):
            response = httpx.post(f"{base_url}/graphql", json={"query": COURSE}, timeout=30)
            [error] = response.json()["errors"]  # answered, the expected way
            assert error["extensions"]["code"] == "COURSE_NOT_FOUND"
        health = httpx.get(f"{base_url}/healthz", timeout=30)

        def spans_dropped() -> float:
            return dropped(httpx.get(f"{base_url}/metrics", timeout=30).text, "otlp")

        lost = wait_until(spans_dropped, 30, "dropped spans counted on /metrics")
        more = httpx.post(f"{base_url}/graphql", json={"query": COURSE}, timeout=30)
        assert more.status_code == 200
        wait_until(lambda: spans_dropped() > lost, 30, "the count rising with more requests")
    finally:
        api.stop()
    assert health.status_code == 200
    assert "tracing: exporting api spans" in api.output


def test_jobs_run_while_sentry_and_the_collector_are_away_and_the_worker_counts_the_loss(
    tmp_path,
):
    """The worker's own metrics port (a worker host without an API) shows what it lost: the
    crashed job's error event and the jobs' spans."""
    port = free_port()
    env = {
        **away(),
        "LMS_JOB_EXTRA_TASK_MODULES": "tests.observability.crash_tasks",
        "LMS_METRICS_DIR": str(tmp_path / "metrics"),
        "LMS_WORKER_METRICS_PORT": str(port),
    }
    worker = start_worker("default", env=env)
    try:
        with JobWatcher() as watcher:
            with session_scope() as session:
                noops = [enqueue(session, "system.noop").id for _ in range(10)]
            with session_scope() as session:
                crashed = enqueue(session, "tests.crash", {"email": "a@example.org"}).id
            assert all(watcher.wait(job_id)["status"] == "SUCCEEDED" for job_id in noops)
            assert watcher.wait(crashed)["errorCode"] == "INTERNAL_ERROR"

        def lost() -> tuple[float, float] | None:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
            counts = dropped(text, "sentry"), dropped(text, "otlp")
            return counts if all(counts) else None

        events, spans = wait_until(lost, 30, "the worker's dropped events and spans counted")
    finally:
        worker.stop()
    assert events >= 1 and spans >= 1
