"""Web push with the real pywebpush against a local push service that records what it gets;
the test decrypts each push with the subscription's keys, as the browser would."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lms.notifications.models import NotificationChannel
from lms.users.models import Role
from tests.notifications.conftest import delivery
from tests.notifications.test_notifications_inbox import produce
from tests.support import create_user

REGISTER = """mutation($i: RegisterPushSubscriptionInput!) {
  registerPushSubscription(input: $i) { id endpoint } }"""
MINE = "{ getNotificationPreferences { pushSubscriptions { endpoint } } }"
STATUS = """query($id: ID!) { getNotification(id: $id) {
  deliveries { channel status errorCode } } }"""


class PushService(ThreadingHTTPServer):
    """Answers 201 (or 410 under /gone/) and keeps every request for the test to inspect."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict] = []
        self.arrived = threading.Condition()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        gone = self.path.startswith("/gone/")
        self.send_response(410 if gone else 201)
        self.end_headers()
        with self.server.arrived:
            self.server.received.append({"path": self.path, "headers": self.headers, "body": body})
            self.server.arrived.notify_all()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="module")
def push_service():
    server = PushService()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_keys():
    """What a browser's PushManager makes: a P-256 key pair and a 16-byte auth secret."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    return private, auth, {"p256dh": b64(public), "auth": b64(auth)}


def test_a_push_arrives_encrypted_for_the_subscription(api, worker, watcher, push_service):
    user, token = create_user(Role.STUDENT)
    private, auth, keys = browser_keys()
    endpoint = push_service.url(f"/push/{user.id}")
    api.data(REGISTER, {"i": {"endpoint": endpoint, "keys": keys, "userAgent": "Firefox"}}, token)
    assert api.data(MINE, token=token)["getNotificationPreferences"]["pushSubscriptions"] == [
        {"endpoint": endpoint}
    ]
    notification = produce(user.id, title="Essay graded", body="A-", priority="HIGH")
    watcher.wait(delivery(notification, NotificationChannel.PUSH).job_id)
    [request] = [r for r in push_service.received if r["path"] == f"/push/{user.id}"]
    headers = request["headers"]
    assert headers["Content-Encoding"] == "aes128gcm" and headers["TTL"] == "86400"
    assert headers["Urgency"] == "high" and headers["Authorization"].startswith("vapid t=")
    shown = json.loads(
        http_ece.decrypt(
            request["body"], private_key=private, auth_secret=auth, version="aes128gcm"
        )
    )
    assert (shown["id"], shown["title"], shown["body"]) == (str(notification), "Essay graded", "A-")
    found = api.data(STATUS, {"id": str(notification)}, token)["getNotification"]["deliveries"]
    by_channel = {d["channel"]: d["status"] for d in found}
    assert (by_channel["IN_APP"], by_channel["PUSH"]) == ("DELIVERED", "SENT")


def test_a_subscription_the_push_service_calls_gone_is_deleted(api, worker, watcher, push_service):
    user, token = create_user(Role.STUDENT)
    _, _, keys = browser_keys()
    api.data(
        REGISTER, {"i": {"endpoint": push_service.url(f"/gone/{user.id}"), "keys": keys}}, token
    )
    notification = produce(user.id, title="Reply")
    watcher.wait(delivery(notification, NotificationChannel.PUSH).job_id)
    found = api.data(STATUS, {"id": str(notification)}, token)["getNotification"]["deliveries"]
    push = next(d for d in found if d["channel"] == "PUSH")
    assert (push["status"], push["errorCode"]) == ("FAILED", "PUSH_SUBSCRIPTION_GONE")
    assert api.data(MINE, token=token)["getNotificationPreferences"]["pushSubscriptions"] == []


def test_malformed_push_subscriptions_are_refused(api):
    _, token = create_user(Role.STUDENT)
    _, _, keys = browser_keys()
    for endpoint, bad_keys in (
        ("ftp://push.example/x", keys),
        ("http://push.example/x", keys),  # plain http only on this machine
        ("https://push.example/x", {**keys, "p256dh": b64(b"short")}),
        ("https://push.example/x", {**keys, "auth": "not base64!"}),
    ):
        variables = {"i": {"endpoint": endpoint, "keys": bad_keys}}
        assert api.error_codes(REGISTER, variables, token) == ["INVALID_PUSH_SUBSCRIPTION"]
    assert api.data(MINE, token=token)["getNotificationPreferences"]["pushSubscriptions"] == []
