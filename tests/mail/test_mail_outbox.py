"""The outbox backend: one parseable .eml file per message, written atomically."""

from __future__ import annotations

import email
import email.policy
import os

from lms.mail import mail_backend, render_email

SENDER = "Lyceum <no-reply@lyceum.test>"


def eml_files(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".eml")


def test_outbox_writes_a_parseable_eml(tmp_path, message):
    backend = mail_backend(f"outbox://{tmp_path}/out")
    assert backend.scheme == "outbox"

    path = backend.send(message)

    files = eml_files(tmp_path / "out")
    assert [str(p) for p in files] == [path]
    assert os.listdir(tmp_path / "out") == [os.path.basename(path)]  # no temp files left
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == message["Message-ID"]
    assert parsed["Subject"] == "Lyceum test email"
    assert parsed["To"] == "student@example.com"
    assert "Note: hello" in parsed.get_body(("plain",)).get_content()
    assert "Note: hello" in parsed.get_body(("html",)).get_content()


def test_same_message_id_is_sent_once(tmp_path):
    backend = mail_backend(f"outbox://{tmp_path}")
    first = render_email(
        "test",
        {"note": "first"},
        to="a@example.com",
        sender=SENDER,
        message_id="<job-7@lyceum.test>",
    )
    second = render_email(
        "test",
        {"note": "second"},
        to="a@example.com",
        sender=SENDER,
        message_id="<job-7@lyceum.test>",
    )

    path1 = backend.send(first)
    path2 = backend.send(second)
    backend.send(second)

    assert path1 == path2
    files = eml_files(tmp_path)
    assert len(files) == 1
    body = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert "Note: first" in body.get_body(("plain",)).get_content()  # later sends skipped


def test_different_messages_give_different_files(tmp_path):
    backend = mail_backend(f"outbox://{tmp_path}")
    paths = {
        backend.send(render_email("test", {}, to="a@example.com", sender=SENDER)) for _ in range(3)
    }
    assert len(paths) == 3
    assert len(eml_files(tmp_path)) == 3


def test_relative_outbox_is_under_the_working_directory(tmp_path, monkeypatch, message):
    monkeypatch.chdir(tmp_path)
    backend = mail_backend("outbox:var/outbox")
    path = backend.send(message)
    assert os.path.dirname(path) == str(tmp_path / "var" / "outbox")
    assert len(eml_files(tmp_path / "var" / "outbox")) == 1


def test_file_name_is_timestamp_and_hash(tmp_path, message):
    path = mail_backend(f"outbox://{tmp_path}").send(message)
    stamp, digest = os.path.basename(path)[: -len(".eml")].split("-")
    assert len(stamp) == len("20250101T120000Z") and stamp.endswith("Z")
    assert len(digest) == 20 and int(digest, 16) >= 0
