"""Which address per-IP limits count: X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

from lms.config import Settings
from web.context import client_address

BEHIND = Settings(trusted_proxies=["10.0.0.0/8", "127.0.0.1/32"])
DIRECT = Settings()


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("203.0.113.5", {"X-Forwarded-For": "1.2.3.4"}, DIRECT) == "203.0.113.5"


def test_the_first_untrusted_hop_from_the_right_is_the_client():
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.1.2.3"}  # 6.6.6.6: client-forged
    assert client_address("127.0.0.1", headers, BEHIND) == "198.51.100.7"


def test_an_untrusted_peer_cannot_claim_another_address():
    headers = {"X-Forwarded-For": "198.51.100.7"}
    assert client_address("203.0.113.5", headers, BEHIND) == "203.0.113.5"


def test_missing_or_garbled_headers_fall_back_to_the_peer():
    assert client_address("10.0.0.1", {}, BEHIND) == "10.0.0.1"
    assert client_address("10.0.0.1", {"X-Forwarded-For": "not-an-ip"}, BEHIND) == "10.0.0.1"
    assert client_address("10.0.0.1", {"X-Forwarded-For": "10.0.0.2"}, BEHIND) == "10.0.0.1"
