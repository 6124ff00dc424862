"""Local protocol-level peers for email: aiosmtpd servers and a SendGrid v3 capture."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from lms.mail import render_email

from tests.mail.servers import RecordingHandler

SENDER = "Lyceum <no-reply@lyceum.test>"
RECIPIENT = "student@example.com"


@pytest.fixture
def message():
    """A rendered `test` email to RECIPIENT."""
    return render_email("test", {"note": "hello"}, to=RECIPIENT, sender=SENDER)


# --------------------------------------------------------------------------- SMTP


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Factory: start an aiosmtpd Controller on 127.0.0.1 (ready when `start()` returns)."""
    controllers: list[Controller] = []

    def start(handler: RecordingHandler | None = None, **kwargs: Any):
        handler = handler or RecordingHandler()
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), **kwargs)
        controller.start()
        controllers.append(controller)
        return controller, handler

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@dataclass
class TlsFiles:
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and a server context using it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lyceum test smtp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file = folder / "cert.pem"
    key_file = folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return TlsFiles(ca_file=cert_file, server_context=context)


# --------------------------------------------------------------------------- SendGrid


@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class SendGridCapture:
    """A local HTTP server speaking enough of the SendGrid v3 API to capture `mail/send`."""

    status: int = 202
    reply_headers: dict[str, str] = field(default_factory=lambda: {"X-Message-Id": "sg-abc123"})
    reply_body: bytes = b""
    requests: list[CapturedRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"


def _capture_handler(capture: SendGridCapture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            capture.requests.append(
                CapturedRequest("POST", self.path, dict(self.headers.items()), json.loads(body))
            )
            self.send_response(capture.status)
            for key, value in capture.reply_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(capture.reply_body)))
            if capture.reply_body:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(capture.reply_body)

        def log_message(self, format, *args):  # quiet
            pass

    return Handler


@pytest.fixture
def sendgrid_server():
    """Factory: start a capture server (listening as soon as it is constructed)."""
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(
        status: int = 202,
        headers: dict[str, str] | None = None,
        body: dict | None = None,
    ) -> SendGridCapture:
        capture = SendGridCapture(status=status)
        if headers is not None:
            capture.reply_headers = headers
        if body is not None:
            capture.reply_body = json.dumps(body).encode()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _capture_handler(capture))
        capture.server = server
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return capture

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def hangup_port():
    """A port whose server accepts a connection and closes it at once, before any greeting."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept_and_close():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    try:
        listener.shutdown(socket.SHUT_RDWR)  # wakes a pending accept() if nobody connected
    except OSError:
        pass
    listener.close()
    thread.join()
