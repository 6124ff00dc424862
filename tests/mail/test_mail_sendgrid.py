"""The SendGrid backend: the official library against a local v3 capture server."""

from __future__ import annotations

import pytest

from lms.errors import PermanentJobError, TransientJobError
from lms.mail import mail_backend

API_KEY = "SG.test-key.abc_123"


def backend_for(capture):
    return mail_backend(f"sendgrid+http://{API_KEY}@{capture.address}?timeout=5")


def test_sendgrid_posts_v3_mail_send(sendgrid_server, message):
    capture = sendgrid_server(202, {"X-Message-Id": "sg-abc123"})
    backend = backend_for(capture)
    assert backend.scheme == "sendgrid"

    provider_id = backend.send(message)

    assert provider_id == "sg-abc123"
    assert len(capture.requests) == 1
    request = capture.requests[0]
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    body = request.json
    assert body["from"] == {"email": "no-reply@lyceum.test", "name": "Lyceum"}
    assert body["subject"] == "Lyceum test email"
    assert [p["to"] for p in body["personalizations"]] == [[{"email": "student@example.com"}]]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    text, html = (c["value"] for c in body["content"])
    assert "Note: hello" in text and "<p>Note: hello</p>" in html
    assert body["custom_args"]["lyceum_message_id"] == message["Message-ID"]
    assert body["headers"]["X-Lyceum-Message-Id"] == message["Message-ID"]


def test_sendgrid_reply_to(sendgrid_server):
    from lms.mail import render_email

    msg = render_email(
        "test",
        {},
        to="Ann Lee <ann@example.com>",
        sender="no-reply@lyceum.test",
        reply_to="Help <help@lyceum.test>",
    )
    capture = sendgrid_server()
    backend_for(capture).send(msg)
    body = capture.requests[0].json
    assert body["reply_to"] == {"email": "help@lyceum.test", "name": "Help"}
    assert body["personalizations"][0]["to"] == [{"email": "ann@example.com", "name": "Ann Lee"}]
    assert body["from"] == {"email": "no-reply@lyceum.test"}


def test_without_x_message_id_our_message_id_is_returned(sendgrid_server, message):
    capture = sendgrid_server(202, {})
    assert backend_for(capture).send(message) == message["Message-ID"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(sendgrid_server, message, status):
    capture = sendgrid_server(status, {}, {"errors": [{"message": "internal error"}]})
    with pytest.raises(TransientJobError) as err:
        backend_for(capture).send(message)
    assert err.value.code == "SENDGRID_UNAVAILABLE"
    assert str(status) in err.value.message


def test_rate_limit_is_transient_with_retry_after(sendgrid_server, message):
    capture = sendgrid_server(429, {"Retry-After": "30"}, {"errors": [{"message": "too many"}]})
    with pytest.raises(TransientJobError) as err:
        backend_for(capture).send(message)
    assert err.value.code == "SENDGRID_RATE_LIMITED"
    assert err.value.details["retry_after"] == 30


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_client_errors_are_permanent(sendgrid_server, message, status):
    reason = {"errors": [{"message": "The from address does not match a verified Sender"}]}
    capture = sendgrid_server(status, {}, reason)
    with pytest.raises(PermanentJobError) as err:
        backend_for(capture).send(message)
    assert err.value.code == "SENDGRID_REJECTED"
    assert "verified Sender" in err.value.message
    assert API_KEY not in err.value.message


def test_unreachable_server_is_transient(closed_port, message):
    backend = mail_backend(f"sendgrid+http://{API_KEY}@127.0.0.1:{closed_port}?timeout=5")
    with pytest.raises(TransientJobError) as err:
        backend.send(message)
    assert err.value.code == "SENDGRID_UNAVAILABLE"


def test_sendgrid_carries_the_idempotency_key(sendgrid_server, message):
    capture = sendgrid_server(202, {"X-Message-Id": "sg-key"})
    backend_for(capture).send(message, idempotency_key="job:42:email")
    body = capture.requests[0].json
    assert body["custom_args"]["lyceum_idempotency_key"] == "job:42:email"
    assert body["headers"]["X-Lyceum-Idempotency-Key"] == "job:42:email"
