"""Email URLs: what the config layer accepts at start-up and what it refuses."""

from __future__ import annotations

import pytest

from lms.mail import mail_backend, validate_email_url


@pytest.mark.parametrize(
    "url, scheme",
    [
        ("outbox:var/outbox", "outbox"),
        ("outbox:///srv/lyceum/outbox", "outbox"),
        ("smtp://mail.example.com", "smtp"),
        ("smtp://user:p%40ss@mail.example.com:587?starttls=1&timeout=10", "smtp"),
        ("smtps://user:pass@mail.example.com:465", "smtps"),
        ("sendgrid://SG.abc-123.def_456@", "sendgrid"),
        ("sendgrid+http://KEY@127.0.0.1:8080", "sendgrid"),
        ("sendgrid+https://KEY@sendgrid-proxy.internal", "sendgrid"),
    ],
)
def test_valid_urls(url, scheme):
    validate_email_url(url)
    assert mail_backend(url).scheme == scheme


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "sendgrid://",
        "sendgrid://@",
        "sendgrid://KEY@api.example.com",
        "sendgrid+https://KEY@",
        "smtp://",
        "smtp://mail.example.com:notaport",
        "smtp://mail.example.com:70000",
        "smtp://mail.example.com?starttls=maybe",
        "smtp://mail.example.com?timeout=soon",
        "smtp://mail.example.com?tls=1",
        "smtps://mail.example.com?starttls=1",
        "smtp://mail.example.com/path",
        "outbox:",
        "outbox://var/outbox",
        "mail.example.com",
        "",
        "smtp://mail.example.com\n",
    ],
)
def test_invalid_urls(url):
    with pytest.raises(ValueError) as err:
        validate_email_url(url)
    reason = str(err.value)
    assert reason and "\n" not in reason
    with pytest.raises(ValueError):
        mail_backend(url)


def test_secrets_stay_out_of_reprs():
    smtp = mail_backend("smtp://mailer:hunter2@mail.example.com:587?starttls=1")
    sendgrid = mail_backend("sendgrid://SG.secret-key@")
    assert "hunter2" not in repr(smtp) and "hunter2" not in repr(smtp.config)
    assert "SG.secret-key" not in repr(sendgrid) and "SG.secret-key" not in repr(sendgrid.config)
