"""The pure Open Badges helpers: proofs, Multikeys and Bitstring Status Lists."""

from __future__ import annotations

import base64
import copy
import gzip
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certificates import badges

WHEN = datetime(2026, 12, 6, 13, 0, 0, 123456, tzinfo=UTC)


def facts(**changes) -> badges.BadgeFacts:
    values = {
        "credential_id": "https://lyceum.example/badges/LYC-1",
        "issuer_id": "did:web:lyceum.example",
        "issuer_name": "Lyceum",
        "issuer_url": "https://lyceum.example",
        "achievement_id": "urn:uuid:6f1c0c3e-7c55-4f55-9d5c-0c1b3a1d2e3f",
        "course_title": "Analytical Engines",
        "instructor_names": ["Ada Lovelace"],
        "holder_name": "Grace Hopper",
        "certificate_id": "LYC-1",
        "version": 1,
        "completed_at": WHEN,
        "issued_at": WHEN,
        "evidence_url": "https://lyceum.example/certificates/verify/LYC-1?v=1",
        "status_list_url": "https://lyceum.example/badges/status/revocation",
        "status_list_index": 42,
    }
    return badges.BadgeFacts(**(values | changes))


def signed(key: Ed25519PrivateKey) -> dict:
    return badges.sign(
        badges.open_badge(facts()), key, verification_method="did:web:x#key-1", created=WHEN
    )


def test_a_signed_credential_verifies_and_any_change_breaks_it():
    key = Ed25519PrivateKey.generate()
    credential = signed(key)
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["validFrom"] == "2026-12-06T13:00:00Z"
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert badges.verify(credential, key.public_key())
    assert signed(key) == credential  # deterministic: the same version, the same bytes

    # Key order and whitespace do not matter (JCS); values do.
    reordered = dict(reversed(list(credential.items())))
    assert badges.verify(reordered, key.public_key())
    for path, value in [
        (("credentialSubject", "identifier", 0, "identityHash"), "Mallory"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
        (("proof", "created"), "2020-01-01T00:00:00Z"),
        (("credentialStatus", "statusListIndex"), "43"),
    ]:
        tampered = copy.deepcopy(credential)
        target = tampered
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert not badges.verify(tampered, key.public_key()), path
    assert not badges.verify(credential, Ed25519PrivateKey.generate().public_key())
    assert not badges.verify(
        {k: v for k, v in credential.items() if k != "proof"}, key.public_key()
    )


def test_multikeys_round_trip_with_the_ed25519_prefix():
    public = Ed25519PrivateKey.generate().public_key()
    text = badges.multikey(public)
    assert text.startswith("z6Mk")  # every Ed25519 Multikey starts so
    assert badges.public_key_from_multikey(text) == public
    with pytest.raises(ValueError):
        badges.public_key_from_multikey("u" + text[1:])
    assert badges.b58decode(badges.b58encode(b"\0\0\x01\xff")) == b"\0\0\x01\xff"


def test_status_lists_set_the_bits_of_revoked_indexes_most_significant_first():
    encoded = badges.encode_status_list({0, 9, badges.STATUS_LIST_BITS - 1})
    assert encoded.startswith("u")
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) * 8 == badges.STATUS_LIST_BITS
    assert raw[0] == 0x80 and raw[1] == 0x40 and raw[-1] == 0x01
    assert [badges.status_bit(encoded, i) for i in (0, 1, 9, 10)] == [True, False, True, False]
    with pytest.raises(ValueError):
        badges.encode_status_list({badges.STATUS_LIST_BITS})
