"""A Sentry and a collector that cannot be reached never stop the API: events and spans
wait in bounded queues on background threads while requests are answered."""

from __future__ import annotations

import httpx

from tests.support import free_port, start_api

COURSE = 'query Course { courseBySlug(slug: "no-such-course") { id } }'


def test_requests_are_answered_while_sentry_and_the_collector_are_away():
    closed = free_port()  # nothing listens there
    env = {
        "LMS_SENTRY_DSN": f"http://public@127.0.0.1:{closed}/1",
        "LMS_OTEL_ENDPOINT": f"http://127.0.0.1:{closed}",
    }
    api, base_url = start_api(env)
    try:
        for _ in range(5):
            response = httpx.post(f"{base_url}/graphql", json={"query": COURSE}, timeout=30)
            assert response.status_code == 200 and "data" in response.json()
        health = httpx.get(f"{base_url}/healthz", timeout=30)
    finally:
        api.stop()
    assert health.status_code == 200
    assert "tracing: exporting api spans" in api.output
