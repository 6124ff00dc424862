"""Email bodies travel as written (7bit/8bit UTF-8), so a link reads whole in the raw file."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from lms.mail import mail_backend, render_email

SENDER = "Lyceum <no-reply@lyceum.test>"
TOKEN = "Xq3_" + "k9Zt-" * 12  # as long as a real token, with the URL-safe punctuation


def raw_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n")


def test_outbox_file_holds_the_link_unbroken_in_both_parts(tmp_path):
    url = f"https://lyceum.test/verify-email?token={TOKEN}"
    message = render_email(
        "verify_email", {"name": "Zoë", "verify_url": url}, to="zoe@example.com", sender=SENDER
    )
    path = mail_backend(f"outbox:{tmp_path}").send(message)
    raw = Path(path).read_bytes()

    # Verbatim in the text part and three times in the HTML (button, copy-me link and its text).
    assert raw.count(url.encode()) == 4
    assert b"quoted-printable" not in raw and b"base64" not in raw
    assert raw.count(b"Content-Transfer-Encoding: 8bit") == 2  # the name is not ASCII
    assert "Hi Zoë,".encode() in raw
    assert max(len(line) for line in raw_lines(raw)) <= 998  # RFC 5322 2.1.1
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert url in parsed.get_body(("plain",)).get_content()


def test_ascii_bodies_are_7bit():
    message = render_email(
        "verify_email",
        {"name": "Ann", "verify_url": f"https://lyceum.test/verify-email?token={TOKEN}"},
        to="ann@example.com",
        sender=SENDER,
    )
    raw = message.as_bytes(policy=email.policy.SMTP)
    raw.decode("ascii")
    assert raw.count(b"Content-Transfer-Encoding: 7bit") == 2


def test_a_line_over_998_octets_falls_back_to_quoted_printable():
    note = "é" * 600  # 1,200 octets in UTF-8 on one line
    raw = render_email("test", {"note": note}, to="a@example.com", sender=SENDER).as_bytes(
        policy=email.policy.SMTP
    )
    assert raw.count(b"Content-Transfer-Encoding: quoted-printable") == 2
    assert max(len(line) for line in raw_lines(raw)) <= 998
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert note in parsed.get_body(("plain",)).get_content()
