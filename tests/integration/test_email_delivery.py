"""Email jobs delivered by a real worker process through SMTP and SendGrid's library."""

from __future__ import annotations

import email

from lms.db import session_scope
from lms.jobs.models import Job
from lms.mail.jobs import request_email
from tests.mail.servers import RecordingHandler
from tests.support import JobWatcher, start_worker


def send(watcher: JobWatcher, to: str, *, max_attempts: int | None = None) -> tuple[dict, Job]:
    with session_scope() as session:
        job = request_email(session, template="test", to=to, context={"name": "Ada"})
        if max_attempts:
            job.max_attempts = max_attempts
    finished = watcher.wait(job.id)
    with session_scope() as session:
        return finished, session.get(Job, job.id)


def test_smtp_delivery_and_error_classification(smtp_server, closed_port):
    controller, handler = smtp_server(
        RecordingHandler(rcpt_reply={"gone@example.test": "550 5.1.1 No such user"})
    )
    worker = start_worker("email", {"LMS_EMAIL_URL": f"smtp://127.0.0.1:{controller.port}"})
    try:
        with JobWatcher() as watcher:
            delivered, job = send(watcher, "ada@example.test")
            assert delivered["status"] == "SUCCEEDED", job.error_message
            assert watcher.statuses(job.id) == ["QUEUED", "RUNNING", "SUCCEEDED"]
            # Only this job's message: email jobs earlier tests left queued may go out too.
            [received] = [
                d
                for d in handler.deliveries
                if email.message_from_bytes(d.data)["Message-ID"] == f"<{job.id}@lyceum.local>"
            ]
            assert received.rcpt_tos == ["ada@example.test"]

            refused, job = send(watcher, "gone@example.test")
            assert (refused["status"], refused["errorCode"]) == ("FAILED", "SMTP_REJECTED")
            assert job.attempts == 1  # a permanent refusal is not retried
    finally:
        worker.stop()


def test_smtp_server_down_is_retried_then_fails_with_a_code(closed_port):
    worker = start_worker("email", {"LMS_EMAIL_URL": f"smtp://127.0.0.1:{closed_port}?timeout=2"})
    try:
        with JobWatcher() as watcher:
            failed, job = send(watcher, "ada@example.test", max_attempts=2)
        assert (failed["status"], failed["errorCode"]) == ("FAILED", "SMTP_UNAVAILABLE")
        assert job.attempts == 2
        assert watcher.statuses(job.id) == ["QUEUED", "RUNNING", "RETRYING", "RUNNING", "FAILED"]
    finally:
        worker.stop()


def test_sendgrid_delivery_through_its_library(sendgrid_server):
    capture = sendgrid_server()
    failing = sendgrid_server(status=503)
    worker = start_worker(
        "email", {"LMS_EMAIL_URL": f"sendgrid+http://SG.test-key@{capture.address}"}
    )
    try:
        with JobWatcher() as watcher:
            delivered, job = send(watcher, "ada@example.test")
        assert delivered["status"] == "SUCCEEDED", job.error_message
        [request] = capture.requests
        assert request.path == "/v3/mail/send"
        assert request.headers["Authorization"] == "Bearer SG.test-key"
        assert request.json["personalizations"][0]["to"] == [{"email": "ada@example.test"}]
        assert {part["type"] for part in request.json["content"]} == {"text/plain", "text/html"}
        assert job.result["delivery"] == "sg-abc123"
    finally:
        worker.stop()

    worker = start_worker(
        "email", {"LMS_EMAIL_URL": f"sendgrid+http://SG.test-key@{failing.address}"}
    )
    try:
        with JobWatcher() as watcher:
            failed, job = send(watcher, "ada@example.test", max_attempts=2)
        assert (failed["status"], failed["errorCode"]) == ("FAILED", "SENDGRID_UNAVAILABLE")
        assert job.attempts == 2 and len(failing.requests) == 2
    finally:
        worker.stop()
