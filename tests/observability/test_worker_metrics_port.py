"""`LMS_WORKER_METRICS_PORT`: a worker host without an API beside it serves its own
metrics. A real `lms worker` process with its own metrics folder sends an e-mail; its
port then shows that delivery (counted in a pool child, summed from the folder)."""

from __future__ import annotations

import uuid

import httpx

from lms.db import session_scope
from lms.jobs.service import enqueue
from tests.faults.support import wait_until
from tests.observability.test_metrics import samples
from tests.support import JobWatcher, free_port, start_worker

SENT = ("lms_deliveries_total", (("channel", "email"), ("outcome", "sent")))


def test_a_worker_serves_its_job_metrics_on_its_own_port(tmp_path):
    port = free_port()
    env = {"LMS_METRICS_DIR": str(tmp_path / "metrics"), "LMS_WORKER_METRICS_PORT": str(port)}
    worker = start_worker("email", env=env)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        before = samples(httpx.get(url, timeout=30).text)  # served from the start
        with JobWatcher() as watcher:
            with session_scope() as session:
                payload = {
                    "to": f"someone-{uuid.uuid4().hex[:8]}@example.com",
                    "template": "notification",
                    "context": {"name": "Ada", "title": "Hi", "body": "", "link": "",
                                "unsubscribe_url": "x"},
                }  # fmt: skip
                job_id = enqueue(session, "email.send", payload=payload).id
            assert watcher.wait(job_id)["status"] == "SUCCEEDED", worker.output[-3000:]
        after = wait_until(
            lambda: (found := samples(httpx.get(url, timeout=30).text)).get(SENT) and found,
            30,
            "the delivery on the worker's port",
        )
    finally:
        worker.stop()
    assert SENT not in before
    assert after[SENT] == 1  # its own folder: this worker's one e-mail, nobody else's
