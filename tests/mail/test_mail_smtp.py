"""The SMTP backend against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy

import pytest

from lms.errors import PermanentJobError, TransientJobError
from lms.mail import mail_backend

from .servers import RecordingHandler, authenticator


def url_of(controller, scheme="smtp", userinfo="", query=""):
    return f"{scheme}://{userinfo}{controller.hostname}:{controller.port}{query}"


def assert_delivered(handler, message, provider_id):
    assert len(handler.deliveries) == 1
    delivery = handler.deliveries[0]
    assert delivery.mail_from == "no-reply@lyceum.test"
    assert delivery.rcpt_tos == ["student@example.com"]
    received = email.message_from_bytes(delivery.data, policy=email.policy.default)
    assert received["Message-ID"] == message["Message-ID"] == provider_id
    assert received["Subject"] == "Lyceum test email"
    assert "Note: hello" in received.get_body(("plain",)).get_content()
    assert received.get_body(("html",)) is not None


def test_smtp_delivers_the_envelope(smtp_server, message):
    controller, handler = smtp_server()
    backend = mail_backend(url_of(controller, query="?timeout=5"))
    assert backend.scheme == "smtp"

    provider_id = backend.send(message)

    assert_delivered(handler, message, provider_id)


def test_smtp_login(smtp_server, message):
    controller, handler = smtp_server(
        authenticator=authenticator((b"mailer", b"s3cret/pw")), auth_require_tls=False
    )
    provider_id = mail_backend(url_of(controller, userinfo="mailer:s3cret%2Fpw@")).send(message)
    assert_delivered(handler, message, provider_id)


def test_smtp_wrong_password_is_permanent(smtp_server, message):
    controller, handler = smtp_server(
        authenticator=authenticator((b"mailer", b"right")), auth_require_tls=False
    )
    with pytest.raises(PermanentJobError) as err:
        mail_backend(url_of(controller, userinfo="mailer:wrong@")).send(message)
    assert err.value.code == "SMTP_AUTH_FAILED"
    assert "wrong" not in err.value.message
    assert handler.deliveries == []


def test_recipient_refused_with_550_is_permanent(smtp_server, message):
    controller, handler = smtp_server(
        RecordingHandler(rcpt_reply={"student@example.com": "550 5.1.1 No such user here"})
    )
    with pytest.raises(PermanentJobError) as err:
        mail_backend(url_of(controller)).send(message)
    assert err.value.code == "SMTP_REJECTED"
    assert "550" in err.value.message
    assert handler.deliveries == []


def test_recipient_deferred_with_451_is_transient(smtp_server, message):
    controller, handler = smtp_server(
        RecordingHandler(rcpt_reply={"student@example.com": "451 4.3.0 Try again later"})
    )
    with pytest.raises(TransientJobError) as err:
        mail_backend(url_of(controller)).send(message)
    assert err.value.code == "SMTP_TEMPORARY"
    assert handler.deliveries == []


def test_data_refused_with_554_is_permanent(smtp_server, message):
    controller, _ = smtp_server(RecordingHandler(data_reply="554 5.6.0 Message content rejected"))
    with pytest.raises(PermanentJobError) as err:
        mail_backend(url_of(controller)).send(message)
    assert err.value.code == "SMTP_REJECTED"


def test_data_deferred_with_452_is_transient(smtp_server, message):
    controller, _ = smtp_server(RecordingHandler(data_reply="452 4.3.1 Insufficient storage"))
    with pytest.raises(TransientJobError) as err:
        mail_backend(url_of(controller)).send(message)
    assert err.value.code == "SMTP_TEMPORARY"


def test_closed_port_is_transient(closed_port, message):
    with pytest.raises(TransientJobError) as err:
        mail_backend(f"smtp://127.0.0.1:{closed_port}?timeout=5").send(message)
    assert err.value.code == "SMTP_UNAVAILABLE"


def test_starttls_with_private_ca(smtp_server, tls, message):
    controller, handler = smtp_server(tls_context=tls.server_context, require_starttls=True)
    url = url_of(controller, query=f"?starttls=1&cafile={tls.ca_file}")
    provider_id = mail_backend(url).send(message)
    assert_delivered(handler, message, provider_id)


def test_starttls_with_untrusted_certificate_is_permanent(smtp_server, tls, message):
    controller, handler = smtp_server(tls_context=tls.server_context, require_starttls=True)
    with pytest.raises(PermanentJobError) as err:
        mail_backend(url_of(controller, query="?starttls=1")).send(message)
    assert err.value.code == "SMTP_TLS_FAILED"
    assert handler.deliveries == []


def test_starttls_required_but_not_offered_is_permanent(smtp_server, message):
    controller, handler = smtp_server()
    with pytest.raises(PermanentJobError) as err:
        mail_backend(url_of(controller, query="?starttls=1")).send(message)
    assert err.value.code == "SMTP_REJECTED"
    assert handler.deliveries == []


def test_smtps_implicit_tls(smtp_server, tls, message):
    controller, handler = smtp_server(ssl_context=tls.server_context)
    backend = mail_backend(url_of(controller, scheme="smtps", query=f"?cafile={tls.ca_file}"))
    assert backend.scheme == "smtps"
    provider_id = backend.send(message)
    assert_delivered(handler, message, provider_id)


def test_server_hanging_up_is_transient(hangup_port, message):
    with pytest.raises(TransientJobError) as err:
        mail_backend(f"smtp://127.0.0.1:{hangup_port}?timeout=5").send(message)
    assert err.value.code == "SMTP_UNAVAILABLE"
