"""Open Badges 3.0 credentials: build, sign and check them, and Bitstring Status Lists.

A credential is a W3C Verifiable Credential (data model 2.0) secured by an embedded Data
Integrity proof with the `eddsa-jcs-2022` cryptosuite: JCS (RFC 8785) canonical JSON,
SHA-256, Ed25519. JCS needs no JSON-LD processing, so any verifier can check a credential
offline once it has the issuer's public key (a Multikey in the issuer's DID document).
Pure: dictionaries and keys in, dictionaries out.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CRYPTOSUITE = "eddsa-jcs-2022"
# The Bitstring Status List spec's minimum (16 KiB): a list this long hides whose bit is whose.
STATUS_LIST_BITS = 131_072
_ED25519_MULTICODEC = b"\xed\x01"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


# --- encodings -------------------------------------------------------------------------------


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)  # ValueError on a foreign character
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def multikey(public_key: Ed25519PublicKey) -> str:
    """`publicKeyMultibase` of a Multikey: base58btc of the Ed25519 multicodec and the key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "z" + b58encode(_ED25519_MULTICODEC + raw)


def public_key_from_multikey(text: str) -> Ed25519PublicKey:
    if not text.startswith("z"):
        raise ValueError("not a base58btc multibase value")
    data = b58decode(text[1:])
    if not data.startswith(_ED25519_MULTICODEC) or len(data) != 34:
        raise ValueError("not an Ed25519 Multikey")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def timestamp(moment: datetime) -> str:
    """XML Schema dateTimeStamp in UTC to the second, as the VC data model expects."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the credential --------------------------------------------------------------------------


@dataclass(frozen=True)
class BadgeFacts:
    """What one certificate version says, as the issuer recorded it."""

    credential_id: str  # a URL that serves the credential; stable across versions
    issuer_id: str  # the issuer's DID
    issuer_name: str
    issuer_url: str
    achievement_id: str
    course_title: str
    instructor_names: list[str]
    holder_name: str
    certificate_id: str
    version: int
    completed_at: datetime
    issued_at: datetime
    evidence_url: str  # the public verification page of this version
    status_list_url: str | None = None
    status_list_index: int | None = None


def open_badge(facts: BadgeFacts) -> dict:
    """The unsigned OpenBadgeCredential of one certificate version."""
    issuer = {
        "id": facts.issuer_id,
        "type": ["Profile"],
        "name": facts.issuer_name,
        "url": facts.issuer_url,
    }
    by = f" taught by {', '.join(facts.instructor_names)}" if facts.instructor_names else ""
    credential: dict = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": facts.credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": facts.course_title,
        "issuer": issuer,
        "validFrom": timestamp(facts.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            # No DID for the holder: the name printed on the paper identifies them.
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": facts.holder_name,
                }
            ],
            "activityEndDate": timestamp(facts.completed_at),
            "achievement": {
                "id": facts.achievement_id,
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": facts.course_title,
                "description": f"Completion of the course {facts.course_title}{by}.",
                "criteria": {"narrative": "Complete every lesson of the course."},
                "creator": issuer,
            },
        },
        "evidence": [
            {
                "id": facts.evidence_url,
                "type": ["Evidence"],
                "name": f"Certificate {facts.certificate_id}, version {facts.version}",
            }
        ],
    }
    if facts.status_list_url is not None and facts.status_list_index is not None:
        credential["credentialStatus"] = {
            "id": f"{facts.status_list_url}#{facts.status_list_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(facts.status_list_index),
            "statusListCredential": facts.status_list_url,
        }
    return credential


# --- Bitstring Status List -------------------------------------------------------------------


def encode_status_list(set_bits: set[int] | list[int], size: int = STATUS_LIST_BITS) -> str:
    """`encodedList`: multibase base64url (no padding) of the GZIP of the bitstring, where
    index 0 is the most significant bit of the first byte."""
    bits = bytearray(size // 8)
    for index in set_bits:
        if not 0 <= index < size:
            raise ValueError(f"status list index {index} outside 0..{size - 1}")
        bits[index // 8] |= 0x80 >> (index % 8)
    packed = gzip.compress(bytes(bits), mtime=0)  # mtime 0: the same list, the same bytes
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def status_bit(encoded_list: str, index: int) -> bool:
    """Whether bit `index` of an `encodedList` is set (true: revoked)."""
    if not encoded_list.startswith("u"):
        raise ValueError("not a base64url multibase value")
    body = encoded_list[1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if not 0 <= index < len(bits) * 8:
        raise ValueError(f"status list index {index} outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(
    *, url: str, issuer_id: str, issuer_name: str, revoked: set[int], valid_from: datetime
) -> dict:
    """The unsigned BitstringStatusListCredential for revocation."""
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer_id, "name": issuer_name},
        "validFrom": timestamp(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_status_list(revoked),
        },
    }


# --- eddsa-jcs-2022 --------------------------------------------------------------------------


def _hash_data(document: dict, proof_options: dict) -> bytes:
    # The proof configuration carries the document's @context (Data Integrity EdDSA, 3.3.x).
    config = {k: v for k, v in proof_options.items() if k != "proofValue"}
    config["@context"] = document["@context"]
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    return (
        hashlib.sha256(rfc8785.dumps(config)).digest()
        + hashlib.sha256(rfc8785.dumps(unsecured)).digest()
    )


def sign(
    document: dict, key: Ed25519PrivateKey, *, verification_method: str, created: datetime
) -> dict:
    """A copy of `document` with a DataIntegrityProof (eddsa-jcs-2022) for assertions."""
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": timestamp(created),
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = key.sign(_hash_data(document, proof))
    secured = copy.deepcopy(document)
    secured["proof"] = proof | {"proofValue": "z" + b58encode(signature)}
    return secured


def verify(document: dict, public_key: Ed25519PublicKey) -> bool:
    """Whether `document`'s eddsa-jcs-2022 proof holds for `public_key` (the key of the
    proof's verificationMethod, which the caller resolved)."""
    proof = document.get("proof")
    if not isinstance(proof, dict) or proof.get("cryptosuite") != CRYPTOSUITE:
        return False
    value = proof.get("proofValue")
    if proof.get("type") != "DataIntegrityProof" or not isinstance(value, str):
        return False
    try:
        signature = b58decode(value[1:]) if value.startswith("z") else b""
        public_key.verify(signature, _hash_data(document, proof))
    except (InvalidSignature, ValueError):
        return False
    return True
