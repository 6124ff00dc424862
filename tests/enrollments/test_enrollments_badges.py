"""Each certificate is also an Open Badges 3.0 credential that anyone can check.

A real worker issues the certificate; the test then acts as an outside verifier: it fetches
the credential and the issuer's DID document over HTTP from the API, checks the
eddsa-jcs-2022 proof with `cryptography` and `rfc8785` alone (none of our code), reads the
revocation status list, and compares the credential with verifyCertificate.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
from urllib.parse import unquote, urlsplit

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from lms.config import ConfigError, check_domain_settings
from lms.db import session_scope
from lms.enrollments.badges import did_document, signing_key
from lms.enrollments.settings import enrollment_settings
from lms.users.models import Role, User
from tests.enrollments.support import complete, enroll, make_course
from tests.enrollments.test_enrollments_certificate_page import (
    REGENERATE,
    REVOKE,
    Fields,
    instant,
    page,
    verify,
)
from tests.support import JobWatcher, create_user, start_worker

CERTIFICATE = """query($e: ID!) { enrollment(id: $e) { certificate {
  id version status verificationUrl generationJobId openBadgeUrl } } }"""
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def worker():
    process = start_worker("certificates")
    yield process
    process.stop()


def issue(api, watcher, token: str, enrollment_id: str, document=CERTIFICATE) -> dict:
    job = api.data(document, {"e": enrollment_id}, token)
    job = job.get("regenerateCertificate") or job["enrollment"]["certificate"]
    assert watcher.wait(job["generationJobId"])["status"] == "SUCCEEDED"
    return api.data(CERTIFICATE, {"e": enrollment_id}, token)["enrollment"]["certificate"]


def fetch(api, url: str) -> dict:
    response = page(api, url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(("application/ld+json", "application/did"))
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.json()


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + B58.index(char)
    return b"\0" * (len(text) - len(text.lstrip("1"))) + number.to_bytes(
        (number.bit_length() + 7) // 8, "big"
    )


def published_key(api, credential: dict) -> Ed25519PublicKey:
    """Resolve the proof's did:web verification method to the key the API publishes."""
    method = credential["proof"]["verificationMethod"]
    did, _, _fragment = method.partition("#")
    assert did == credential["issuer"]["id"] and did.startswith("did:web:")
    host = unquote(did.removeprefix("did:web:"))
    assert host == urlsplit(credential["id"]).netloc  # the API that serves the credential
    document = fetch(api, "/.well-known/did.json")
    assert document["id"] == did and method in document["assertionMethod"]
    (entry,) = [m for m in document["verificationMethod"] if m["id"] == method]
    assert entry["type"] == "Multikey"
    raw = b58decode(entry["publicKeyMultibase"].removeprefix("z"))
    assert raw[:2] == b"\xed\x01"  # the multicodec of an Ed25519 public key
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def check_proof(credential: dict, key: Ed25519PublicKey) -> bool:
    """eddsa-jcs-2022 verification as the W3C spec words it (section 3.3)."""
    proof = dict(credential["proof"])
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    signature = b58decode(proof.pop("proofValue").removeprefix("z"))
    proof["@context"] = credential["@context"]
    document = {k: v for k, v in credential.items() if k != "proof"}
    data = hashlib.sha256(rfc8785.dumps(proof)).digest()
    data += hashlib.sha256(rfc8785.dumps(document)).digest()
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def revoked_in_status_list(api, credential: dict) -> bool:
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry"
    assert status["statusPurpose"] == "revocation"
    status_list = fetch(api, status["statusListCredential"])
    assert status_list["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert status_list["issuer"]["id"] == credential["issuer"]["id"]
    assert check_proof(status_list, published_key(api, status_list))
    subject = status_list["credentialSubject"]
    assert subject["statusPurpose"] == "revocation"
    encoded = subject["encodedList"].removeprefix("u")
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert len(bits) * 8 >= 131_072  # the spec's minimum size, for herd privacy
    index = int(status["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def agrees_with_verification(credential: dict, view: dict) -> None:
    assert credential["id"] == view["openBadgeUrl"]
    assert credential["@context"][:1] == ["https://www.w3.org/ns/credentials/v2"]
    assert "ob/v3p0/context" in credential["@context"][1]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["issuer"]["name"] == view["issuerName"]
    subject = credential["credentialSubject"]
    (identity,) = subject["identifier"]
    assert (identity["identityType"], identity["hashed"]) == ("name", False)
    assert identity["identityHash"] == view["holderName"]
    assert credential["name"] == subject["achievement"]["name"] == view["courseTitle"]
    for name in view["instructorNames"]:
        assert name in subject["achievement"]["description"]
    issued = instant(view["issuedAt"])
    assert instant(credential["validFrom"]) == issued.replace(microsecond=0)
    completed = instant(view["completedAt"])
    assert instant(subject["activityEndDate"]) == completed.replace(microsecond=0)
    (evidence,) = credential["evidence"]
    assert evidence["id"] == f"{view['verificationUrl']}?v={view['version']}"
    assert view["certificateId"] in evidence["name"]


def test_a_certificate_is_an_open_badge_that_any_verifier_can_check(api, worker):
    owner, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    with session_scope() as session:
        session.get(User, owner.id).name = "Ada Lovelace"
        session.get(User, student.id).name = "Grâce Hopper 🎓"  # JCS keeps it as UTF-8
    course = make_course(owner.id, title="Analytical Engines")
    enrollment_id = enroll(api, token, course.id)["id"]
    with JobWatcher() as watcher:
        complete(api, token, enrollment_id, course.lessons[0])
        certificate = issue(api, watcher, token, enrollment_id)
        url = certificate["openBadgeUrl"]
        assert url and certificate["id"] in url

        credential = fetch(api, url)
        key = published_key(api, credential)
        assert check_proof(credential, key)
        view = verify(api, certificate["id"])
        assert view["result"] == "VALID" and view["openBadgeUrl"] == url
        agrees_with_verification(credential, view)
        assert revoked_in_status_list(api, credential) is False

        # Whatever a forger changes, the published key rejects it.
        for change in (
            lambda c: c["credentialSubject"]["identifier"][0].update(identityHash="Mallory"),
            lambda c: c["credentialSubject"]["achievement"].update(name="Rocket Science"),
            lambda c: c.update(validFrom="2020-01-01T00:00:00Z"),
            lambda c: c["credentialStatus"].update(statusListIndex="0"),
        ):
            tampered = copy.deepcopy(credential)
            change(tampered)
            assert not check_proof(tampered, key)

        # The certificate page links to the credential.
        shown = Fields(page(api, certificate["verificationUrl"]).text)
        assert shown.links["openBadgeUrl"] == url

        # Regenerating keeps the credential's id and names the new version.
        second = issue(api, watcher, token, enrollment_id, REGENERATE)
        assert second["version"] == 2 and second["openBadgeUrl"] == url
        renewed = fetch(api, url)
        assert check_proof(renewed, key)
        agrees_with_verification(renewed, verify(api, certificate["id"]))
        assert renewed["evidence"][0]["id"].endswith("?v=2")
        assert renewed["credentialStatus"] == credential["credentialStatus"]

    # Revoking flips its bit in the status list; the signed credential itself is unchanged.
    _, admin_token = create_user(Role.ADMIN)
    api.data(REVOKE, {"c": certificate["id"]}, admin_token)
    after = fetch(api, url)
    assert after == renewed and check_proof(after, key)
    assert revoked_in_status_list(api, after) is True
    revoked_view = verify(api, certificate["id"])
    assert revoked_view["result"] == "REVOKED" and revoked_view["openBadgeUrl"] == url


def test_no_credential_before_issue_or_for_unknown_ids(api):
    for path in ("/badges/LYC-NOPE", "/badges/LYC-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"):
        response = page(api, path)
        assert response.status_code == 404 and response.json()["error"]
    assert verify(api, "LYC-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA")["openBadgeUrl"] is None


@pytest.fixture
def fresh_key_settings():
    enrollment_settings.cache_clear()
    signing_key.cache_clear()
    yield
    enrollment_settings.cache_clear()
    signing_key.cache_clear()


def test_production_refuses_to_start_without_the_schools_key(monkeypatch, fresh_key_settings):
    monkeypatch.setenv("LMS_ENV", "production")
    monkeypatch.setenv("LMS_SECRET_KEY", "a-real-secret-" + "x" * 40)
    monkeypatch.delenv("LMS_ENROLLMENT_BADGE_SIGNING_KEY", raising=False)
    with pytest.raises(ConfigError, match="LMS_ENROLLMENT_BADGE_SIGNING_KEY: must be set"):
        check_domain_settings()


def test_a_configured_key_is_the_one_published(monkeypatch, fresh_key_settings):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    monkeypatch.setenv("LMS_ENROLLMENT_BADGE_SIGNING_KEY", pem)
    (method,) = did_document()["verificationMethod"]
    raw = b58decode(method["publicKeyMultibase"].removeprefix("z"))[2:]
    assert raw == key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    signing_key.cache_clear()
    monkeypatch.setenv("LMS_ENROLLMENT_BADGE_SIGNING_KEY", "not a key")
    enrollment_settings.cache_clear()
    with pytest.raises(ConfigError, match="LMS_ENROLLMENT_BADGE_SIGNING_KEY: not an Ed25519"):
        signing_key()
