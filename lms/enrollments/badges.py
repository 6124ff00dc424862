"""Open Badges 3.0 credentials beside the PDF: the school's key, its DID, the status list.

The API is the issuer `did:web:<host of LMS_PUBLIC_URL>`: its DID document at
`/.well-known/did.json` publishes the Ed25519 public key (a Multikey). A certificate's
credential is made and signed when asked for, from what the stored version prints:
Ed25519 signatures are deterministic and every date comes from the row, so the same
version always serves the same bytes. Revocation is a bit in one Bitstring Status List
credential (`/badges/status/revocation`), also signed.
"""

from __future__ import annotations

import base64
import functools
import logging
import secrets
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certificates import badges
from certificates.codes import is_well_formed, normalize_code
from lms.config import ConfigError, get_settings
from lms.enrollments.models import Certificate, CertificateStatus
from lms.enrollments.settings import enrollment_settings
from lms.models import utcnow
from lms.security import Viewer

DID_PATH = "/.well-known/did.json"
BADGE_PATH = "/badges/{code}"
STATUS_LIST_PATH = "/badges/status/revocation"
KEY_ID = "key-1"

log = logging.getLogger(__name__)


def _base() -> str:
    return get_settings().public_url.rstrip("/")


def issuer_did() -> str:
    """did:web of the API's host (a port is percent-encoded, as did:web requires)."""
    return "did:web:" + quote(urlsplit(_base()).netloc, safe="")


def verification_method() -> str:
    return f"{issuer_did()}#{KEY_ID}"


def badge_url(code: str) -> str:
    return _base() + BADGE_PATH.format(code=code)


def status_list_url() -> str:
    return _base() + STATUS_LIST_PATH


@functools.lru_cache(maxsize=1)
def signing_key() -> Ed25519PrivateKey:
    """The configured key, or one made once under LMS_VAR_DIR (development and tests)."""
    configured = enrollment_settings().badge_signing_key.strip()
    if configured:
        try:
            if configured.startswith("-----BEGIN"):
                key = load_pem_private_key(configured.encode(), password=None)
            else:
                seed = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
                key = Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(
                "LMS_ENROLLMENT_BADGE_SIGNING_KEY: not an Ed25519 private key "
                "(PEM, or the base64url 32-byte seed)"
            )
        return key
    path = get_settings().var_dir / "badge_signing_key.pem"
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # exclusive create: two processes racing keep the first key
            with open(path, "xb") as file:
                file.write(pem)
        except FileExistsError:
            pass
    key = load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def did_document() -> dict:
    """The issuer's DID document: one Multikey for assertions (signing credentials)."""
    did, method = issuer_did(), verification_method()
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": method,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": badges.multikey(signing_key().public_key()),
            }
        ],
        "assertionMethod": [method],
        "authentication": [method],
    }


def free_status_list_index(session: Session) -> int | None:
    """A random unused bit of the status list (the spec asks for unpredictable indexes), or
    None when the list is half full: the PDF is still issued, without a credential.

    The unique index catches the rare race of two issuers drawing the same free bit."""
    used = session.scalar(select(func.count()).where(Certificate.status_list_index.is_not(None)))
    if used >= badges.STATUS_LIST_BITS // 2:  # keep draws cheap and indexes unguessable
        log.warning("the Open Badges status list is half full: certificates get no credential")
        return None
    while True:
        index = secrets.randbelow(badges.STATUS_LIST_BITS)
        taken = session.scalar(select(Certificate.id).where(Certificate.status_list_index == index))
        if taken is None:
            return index


def has_badge(cert: Certificate) -> bool:
    """Issued at least once (revoked ones keep theirs: the status list says revoked)."""
    return cert.version > 0 and cert.status_list_index is not None and cert.issued_at is not None


def open_badge_url(cert: Certificate) -> str | None:
    return badge_url(cert.code) if has_badge(cert) else None


def credential_for(cert: Certificate) -> dict:
    """The signed OpenBadgeCredential of the certificate's current version."""
    from lms.enrollments.certificates import verification_url

    es = enrollment_settings()
    facts = badges.BadgeFacts(
        credential_id=badge_url(cert.code),
        issuer_id=issuer_did(),
        issuer_name=es.school_name,
        issuer_url=get_settings().links_base,
        achievement_id=f"urn:uuid:{cert.course_id}",
        course_title=cert.course_title or "",
        instructor_names=list(cert.instructor_names or []),
        holder_name=cert.student_name or "",
        certificate_id=cert.code,
        version=cert.version,
        completed_at=cert.completed_at,
        issued_at=cert.issued_at,
        evidence_url=verification_url(cert.code, version=cert.version),
        status_list_url=status_list_url(),
        status_list_index=cert.status_list_index,
    )
    return badges.sign(
        badges.open_badge(facts),
        signing_key(),
        verification_method=verification_method(),
        created=cert.issued_at,
    )


def open_badge(session: Session, _viewer: Viewer, *, certificate_id: str) -> dict | None:
    """Public: the credential of a certificate id, None when there is none (yet)."""
    if not is_well_formed(certificate_id or ""):
        return None
    cert = session.scalar(
        select(Certificate).where(Certificate.code == normalize_code(certificate_id))
    )
    return credential_for(cert) if cert is not None and has_badge(cert) else None


def revocation_list(session: Session, _viewer: Viewer) -> dict:
    """Public: the signed status list; a revoked certificate's bit is 1."""
    revoked = set(
        session.scalars(
            select(Certificate.status_list_index).where(
                Certificate.status == CertificateStatus.REVOKED,
                Certificate.status_list_index.is_not(None),
            )
        )
    )
    now = utcnow()
    document = badges.status_list_credential(
        url=status_list_url(),
        issuer_id=issuer_did(),
        issuer_name=enrollment_settings().school_name,
        revoked=revoked,
        valid_from=now,
    )
    return badges.sign(
        document, signing_key(), verification_method=verification_method(), created=now
    )
