"""Rendering every shipped email template into a multipart/alternative message."""

from __future__ import annotations

import email
import email.policy
from email.utils import parsedate_to_datetime

import pytest

from lms.errors import PermanentJobError
from lms.mail import render_email, template_names

SENDER = "Lyceum <no-reply@lyceum.test>"
XSS = "<script>alert('x')</script>"

CASES = {
    "welcome": (
        {"name": "Ann", "login_url": "https://lyceum.test/login"},
        "Welcome to Lyceum, Ann",
        ["https://lyceum.test/login"],
    ),
    "verify_email": (
        {"name": "Ann", "verify_url": "https://lyceum.test/verify-email?token=tok-123"},
        "Confirm your email address for Lyceum",
        ["https://lyceum.test/verify-email?token=tok-123"],
    ),
    "password_reset": (
        {"name": "Ann", "reset_url": "https://lyceum.test/reset?token=rst-456"},
        "Reset your Lyceum password",
        ["https://lyceum.test/reset?token=rst-456", "1 hour"],
    ),
    "video_ready": (
        {
            "name": "Ann",
            "course_title": "Linear Algebra",
            "lesson_title": "Eigenvalues",
            "lesson_url": "https://lyceum.test/c/la/l/7",
        },
        'Your video for "Eigenvalues" is ready',
        ["Linear Algebra", "Eigenvalues", "https://lyceum.test/c/la/l/7"],
    ),
    "video_failed": (
        {
            "name": "Ann",
            "course_title": "Linear Algebra",
            "lesson_title": "Eigenvalues",
            "error_code": "NO_VIDEO_STREAM",
            "error_message": "The file has no video stream.",
        },
        'We could not process your video for "Eigenvalues"',
        ["NO_VIDEO_STREAM", "The file has no video stream.", "Linear Algebra"],
    ),
    "certificate_issued": (
        {
            "name": "Ann",
            "course_title": "Linear Algebra",
            "verify_url": "https://lyceum.test/certificates/CERT-9F2K",
        },
        'Your certificate for "Linear Algebra"',
        ["Linear Algebra", "https://lyceum.test/certificates/CERT-9F2K"],
    ),
    "unlock_sign_in": (
        {
            "name": "Ann",
            "source": "203.0.113.9",
            "failures": 10,
            "lock_minutes": 15,
            "unlock_url": "https://lyceum.test/unlock-sign-in?token=unl-789",
            "expires_in": "24 hours",
        },
        "Sign-ins to your Lyceum account were locked",
        ["203.0.113.9", "https://lyceum.test/unlock-sign-in?token=unl-789", "24 hours"],
    ),
    "subscription_payment_failed": (
        {"name": "Ann", "plan": "all-access-monthly", "grace_until": "2026-12-13"},
        "Your all-access-monthly subscription payment did not go through",
        ["all-access-monthly", "2026-12-13"],
    ),
    "payment_receipt": (
        {
            "name": "Ann",
            "item": "Linear Algebra",
            "amount": "49.00 USD",
            "payment_id": "2f1c0e4a-0000-4000-8000-000000000001",
            "paid_at": "2026-12-06 18:00 UTC",
            "link": "https://lyceum.test/courses/1",
            "unsubscribe_url": "https://lyceum.test/notifications/unsubscribe?token=t",
        },
        "Your receipt: 49.00 USD for Linear Algebra",
        ["Linear Algebra", "49.00 USD", "2f1c0e4a-0000-4000-8000-000000000001"],
    ),
    "test": ({}, "Lyceum test email", ["test email from Lyceum"]),
    "notification": (
        {
            "name": "Ann",
            "title": "Grade posted",
            "body": "Essay 1: A-",
            "link": "https://lyceum.test/grades/1",
            "unsubscribe_url": "https://lyceum.test/notifications/unsubscribe?token=t",
        },
        "Grade posted",
        ["Essay 1: A-", "https://lyceum.test/notifications/unsubscribe?token=t"],
    ),
    "notification_digest": (
        {
            "name": "Ann",
            "frequency": "daily",
            "items": [{"title": "New reply", "body": "Looks good", "link": None}],
            "unsubscribe_url": "https://lyceum.test/notifications/unsubscribe?token=t",
        },
        "Your daily Lyceum digest: 1 new notification",
        ["New reply", "Looks good"],
    ),
}


def parts(msg):
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return text.get_content(), html.get_content()


def test_every_shipped_template_is_covered():
    assert sorted(template_names()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_template_renders_text_and_html(name):
    context, subject, expected = CASES[name]
    msg = render_email(
        name, context, to="Ann Lee <ann@example.com>", sender=SENDER, reply_to="help@lyceum.test"
    )

    # What a mail client sees, after a round trip through bytes.
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].addr_spec == "no-reply@lyceum.test"
    assert parsed["To"].addresses[0].addr_spec == "ann@example.com"
    assert parsed["To"].addresses[0].display_name == "Ann Lee"
    assert parsed["Reply-To"] == "help@lyceum.test"
    assert parsedate_to_datetime(parsed["Date"]).tzinfo is not None
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@lyceum.local>")

    text, html = parts(parsed)
    for fragment in expected:
        assert fragment in text
        assert fragment.replace('"', "&#34;") in html or fragment in html
    assert "<html" in html and "</html>" in html and "Lyceum" in html  # the shared layout
    assert "<" not in text and "&amp;" not in text


def test_html_escapes_context_values_and_text_does_not():
    context = dict(CASES["video_failed"][0], error_message=XSS, course_title="Tom & Jerry")
    msg = render_email("video_failed", context, to="ann@example.com", sender=SENDER)
    text, html = parts(msg)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Tom &amp; Jerry" in html
    assert XSS in text
    assert "Tom & Jerry" in text


def test_link_query_strings_survive_in_both_parts():
    url = "https://lyceum.test/verify-email?token=a1b2&next=/courses"
    msg = render_email(
        "verify_email", {"name": "Ann", "verify_url": url}, to="a@example.com", sender=SENDER
    )
    text, html = parts(msg)
    assert url in text
    assert 'href="https://lyceum.test/verify-email?token=a1b2&amp;next=/courses"' in html


def test_non_ascii_values_are_encoded_and_come_back_intact():
    msg = render_email(
        "welcome",
        {"name": "Zoë Ångström", "login_url": "https://x.test/"},
        to="Zoë <zoe@example.com>",
        sender=SENDER,
    )
    raw = msg.as_bytes()
    head, _, body = raw.partition(b"\n\n")
    head.decode("ascii")  # headers are RFC 2047 encoded
    assert "Hi Zoë Ångström,".encode() in body  # bodies are 8bit UTF-8, readable as is
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Welcome to Lyceum, Zoë Ångström"
    assert "Hi Zoë Ångström," in parts(parsed)[0]
    assert parsed["To"].addresses[0].display_name == "Zoë"


def test_given_message_id_is_kept():
    msg = render_email(
        "test", {}, to="a@example.com", sender=SENDER, message_id="<job-42@lyceum.test>"
    )
    assert msg["Message-ID"] == "<job-42@lyceum.test>"


def test_message_id_uses_the_given_domain_and_is_unique():
    a = render_email("test", {}, to="a@example.com", sender=SENDER, message_id_domain="mail.test")
    b = render_email("test", {}, to="a@example.com", sender=SENDER, message_id_domain="mail.test")
    assert a["Message-ID"].endswith("@mail.test>")
    assert a["Message-ID"] != b["Message-ID"]


@pytest.mark.parametrize("name", ["nope", "_base", "../welcome", "Welcome", "", "welcome.html"])
def test_unknown_template(name):
    with pytest.raises(PermanentJobError) as err:
        render_email(name, {}, to="a@example.com", sender=SENDER)
    assert err.value.code == "UNKNOWN_TEMPLATE"


def test_missing_variable_fails_loudly():
    with pytest.raises(PermanentJobError) as err:
        render_email("password_reset", {"name": "Ann"}, to="a@example.com", sender=SENDER)
    assert err.value.code == "TEMPLATE_ERROR"
    assert "reset_url" in err.value.message


@pytest.mark.parametrize(
    "to",
    [
        "ann@example.com\r\nBcc: victim@example.com",
        "ann@example.com\nSubject: hi",
        "ann@example.com, bob@example.com",
        "not an address",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@exa mple.com",
        "ann..lee@example.com",
        "",
    ],
)
def test_invalid_recipient(to):
    with pytest.raises(PermanentJobError) as err:
        render_email("test", {}, to=to, sender=SENDER)
    assert err.value.code == "INVALID_RECIPIENT"


def test_newline_in_subject_is_rejected():
    context = {"name": "Ann\r\nBcc: victim@example.com", "login_url": "https://x.test/"}
    with pytest.raises(PermanentJobError) as err:
        render_email("welcome", context, to="a@example.com", sender=SENDER)
    assert err.value.code == "INVALID_HEADER"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sender": "Lyceum <no-reply@lyceum.test>\nBcc: x@example.com"},
        {"sender": "nobody"},
        {"reply_to": "help@lyceum.test\r\nX-Evil: 1"},
        {"message_id": "<a@b>\r\nBcc: x@example.com"},
        {"message_id": "not-a-message-id"},
    ],
)
def test_invalid_headers(kwargs):
    kwargs = {"sender": SENDER, **kwargs}
    with pytest.raises(PermanentJobError) as err:
        render_email("test", {}, to="a@example.com", **kwargs)
    assert err.value.code == "INVALID_HEADER"
