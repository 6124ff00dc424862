"""Certificate records: requesting issuance, what a version prints, recording it, verifying.

The PDF itself is made by the certificate issuance pipeline (`CERTIFICATE_ISSUANCE`, one
`certificates.issue` job whose steps pipelines/certificate_issuance.py runs).
This module owns the rows: a PENDING certificate with its code is recorded in the same
transaction that completes the enrollment, so the job only fills in a version and a
re-delivered job finds its work done. Codes come from the pure `certificates.codes`
module (stdlib only): minting and reading them must follow one set of rules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from certificates.codes import is_well_formed, new_certificate_code, normalize_code
from lms.config import Settings, get_settings
from lms.courses import service as courses
from lms.enrollments.access import visible_enrollment
from lms.enrollments.badges import free_status_list_index, open_badge_url
from lms.enrollments.errors import EnrollmentCode
from lms.enrollments.events import CERTIFICATE_TOPIC, COMPLETED_TOPIC, publish_after_commit
from lms.enrollments.models import Certificate, CertificateStatus, Enrollment, EnrollmentStatus
from lms.enrollments.settings import EnrollmentSettings, enrollment_settings
from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lms.events.topics import camel
from lms.jobs import pipelines
from lms.jobs.models import TERMINAL, Job
from lms.jobs.pipelines import RESUME_FROM_START, Pipeline, Step
from lms.models import utcnow
from lms.notifications.service import notify
from lms.analytics.service import record
from lms.security import Role, Viewer, require_authenticated, require_role
from lms.storage import signing
from lms.users import service as users

# Inline: the steps pass the PDF in memory, inside one job on the `certificates` queue; a
# retry runs them all again (each is idempotent: see pipelines/certificate_issuance.py).
CERTIFICATE_ISSUANCE = Pipeline(
    name="certificate_issuance",
    kind="certificates.issue",
    subject="certificate",
    steps=(
        Step("snapshot", weight=0.1),
        Step("render", weight=0.6),
        Step("store", weight=0.2),
        Step("record", weight=0.1),
    ),
    inline=True,
    resume=RESUME_FROM_START,
    time_limit=enrollment_settings().certificate_time_limit_seconds,
)
ISSUE_JOB = CERTIFICATE_ISSUANCE.kind


def verification_url(
    code: str,
    settings: Settings | None = None,
    es: EnrollmentSettings | None = None,
    *,
    version: int | None = None,
) -> str:
    """The public page that confirms a certificate (printed and in the QR code).

    A paper carries its version (`?v=2`), so the page can tell its reader when a newer
    version supersedes it.
    """
    settings, es = settings or get_settings(), es or enrollment_settings()
    url = settings.links_base + es.verify_path.format(code=code)
    return f"{url}?v={version}" if version else url


def storage_key(code: str, version: int) -> str:
    """Deterministic: a re-run of the same version overwrites, never duplicates."""
    return f"certificates/{code}/v{version}.pdf"


_NOT_IN_NAME = re.compile(r"[^\w.-]+")  # keeps letters of any script; ASCII comes later


def pdf_file_name(code: str, course_slug: str, es: EnrollmentSettings | None = None) -> str:
    """`<school>-<course-slug>-<certificate-id>.pdf`: what a saved copy is called."""
    school_name = (es or enrollment_settings()).school_name
    school = "-".join(_NOT_IN_NAME.sub(" ", school_name).split()) or "certificate"
    return f"{school}-{course_slug}-{code}.pdf"


def download_url(
    key: str,
    *,
    file_name: str,
    download: bool = False,
    settings: Settings | None = None,
    es: EnrollmentSettings | None = None,
) -> str:
    """A signed, expiring link to a stored PDF, shown inline (or saved, with `download`) under
    `file_name`: presigned by the store on S3, served by the API on local storage."""
    es = es or enrollment_settings()
    seconds = es.certificate_link_hours * 3600
    return signing.file_url(key, seconds, name=file_name, download=download, settings=settings)[0]


def course_slugs(session: Session, _viewer: Viewer, course_ids: list[uuid.UUID]) -> list[str]:
    """Batch read for certificate file names: a certificate outlives its course's visibility."""
    found = courses.course_slugs(session, course_ids)
    return [found.get(key, "course") for key in course_ids]


@dataclass(frozen=True)
class CertificateView:
    id: str  # the public code
    enrollment_id: uuid.UUID
    student_id: uuid.UUID
    course_id: uuid.UUID
    status: CertificateStatus
    version: int
    student_name: str | None
    course_title: str | None
    instructor_names: list[str]
    completed_at: datetime
    issued_at: datetime | None
    content_hash: str | None
    storage_key: str | None
    verification_url: str
    generation_job_id: uuid.UUID | None
    revoked_at: datetime | None
    revoked_reason: str | None
    open_badge_url: str | None = None


def certificate_view(cert: Certificate) -> CertificateView:
    return CertificateView(
        cert.code,
        cert.enrollment_id,
        cert.student_id,
        cert.course_id,
        cert.status,
        cert.version,
        cert.student_name,
        cert.course_title,
        list(cert.instructor_names or []),
        cert.completed_at,
        cert.issued_at,
        cert.content_hash,
        cert.storage_key,
        verification_url(cert.code, version=cert.version),
        cert.generation_job_id,
        cert.revoked_at,
        cert.revoked_reason,
        open_badge_url(cert),
    )


# --- requests (API side) ----------------------------------------------------------------


def start_issuance(
    session: Session, enrollment: Enrollment, *, requested_by_id: uuid.UUID | None
) -> Certificate:
    """Record a PENDING certificate for a completed enrollment and start the pipeline."""
    cert = session.scalar(select(Certificate).where(Certificate.enrollment_id == enrollment.id))
    if cert is not None:
        return cert
    cert = Certificate(
        code=new_certificate_code(),
        enrollment_id=enrollment.id,
        student_id=enrollment.student_id,
        course_id=enrollment.course_id,
        status=CertificateStatus.PENDING,
        requested_version=1,
        version=0,
        completed_at=enrollment.completed_at or utcnow(),
        instructor_names=[],
    )
    session.add(cert)
    session.flush()
    _enqueue(session, cert, requested_by_id)
    return cert


def _enqueue(session: Session, cert: Certificate, requested_by_id: uuid.UUID | None) -> Job:
    job = pipelines.start(
        session,
        CERTIFICATE_ISSUANCE,
        cert.id,
        payload={"version": cert.requested_version},
        requested_by_id=requested_by_id,
    )
    cert.generation_job_id = job.id
    return job


def regenerate_certificate(
    session: Session, viewer: Viewer, *, enrollment_id: Any
) -> CertificateView:
    """Make a new version of an enrollment's certificate (same id), e.g. after a name change."""
    user_id = require_authenticated(viewer)
    enrollment = visible_enrollment(session, viewer, enrollment_id)
    if not (viewer.is_admin or enrollment.student_id == user_id):  # the course's instructors
        raise Forbidden(
            "only the student or an admin may regenerate a certificate", code="FORBIDDEN"
        )
    if enrollment.status != EnrollmentStatus.COMPLETED:
        raise Conflict(
            "the course is not completed yet", code=EnrollmentCode.ENROLLMENT_NOT_COMPLETED
        )
    cert = session.scalar(
        select(Certificate).where(Certificate.enrollment_id == enrollment.id).with_for_update()
    )
    if cert is None:  # completed before certificates existed, or the row was lost: issue one
        return certificate_view(start_issuance(session, enrollment, requested_by_id=user_id))
    if cert.status == CertificateStatus.REVOKED:
        raise Conflict(
            "this certificate was revoked and cannot be regenerated",
            code=EnrollmentCode.CERTIFICATE_REVOKED,
        )
    pending = cert.requested_version > cert.version
    job = session.get(Job, cert.generation_job_id) if cert.generation_job_id else None
    if pending and job is not None and job.status not in TERMINAL:
        return certificate_view(cert)  # a generation is already on its way: one is enough
    if not pending:
        cert.requested_version = cert.version + 1
    _enqueue(session, cert, user_id)
    return certificate_view(cert)


def revoke_certificate(
    session: Session, viewer: Viewer, *, certificate_id: str, reason: str | None = None
) -> CertificateView:
    """Admins revoke a certificate: verification then says REVOKED (with the reason)."""
    admin_id = require_role(viewer, Role.ADMIN)
    cert = _by_code(session, certificate_id, lock=True)
    if cert is None:
        raise NotFound("certificate not found", code=EnrollmentCode.CERTIFICATE_NOT_FOUND)
    if cert.status != CertificateStatus.REVOKED:
        cert.status, cert.revoked_at, cert.revoked_by_id = (
            CertificateStatus.REVOKED,
            utcnow(),
            admin_id,
        )
        cert.revoked_reason = (validate_reason(reason) or "").strip() or None
    return certificate_view(cert)


# --- reads ---------------------------------------------------------------------------------


def my_certificates(session: Session, viewer: Viewer) -> list[CertificateView]:
    """The viewer's certificates, newest first."""
    user_id = require_authenticated(viewer)
    rows = session.scalars(
        select(Certificate)
        .where(Certificate.student_id == user_id)
        .order_by(Certificate.completed_at.desc(), Certificate.id)
    )
    return [certificate_view(cert) for cert in rows]


def certificates_by_enrollment(
    session: Session, viewer: Viewer, enrollment_ids: Sequence[uuid.UUID]
) -> list:
    """Batch read for `Enrollment.certificate` (the enrollments were authorized already)."""
    rows = session.scalars(select(Certificate).where(Certificate.enrollment_id.in_(enrollment_ids)))
    found = {cert.enrollment_id: certificate_view(cert) for cert in rows}
    return [found.get(key) for key in enrollment_ids]


def _by_code(session: Session, text: str, *, lock: bool = False) -> Certificate | None:
    if not is_well_formed(text):
        return None
    query = select(Certificate).where(Certificate.code == normalize_code(text))
    return session.scalar(query.with_for_update() if lock else query)


@dataclass(frozen=True)
class Verification:
    """What the public verification page shows; `result` says how the id was understood."""

    result: str  # VALID, REVOKED, PENDING, NOT_FOUND, MALFORMED
    message: str
    certificate_id: str | None = None
    holder_name: str | None = None
    course_title: str | None = None
    instructor_names: list[str] = field(default_factory=list)
    completed_at: datetime | None = None
    issued_at: datetime | None = None
    version: int | None = None
    status: CertificateStatus | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    verification_url: str | None = None
    superseded: bool = False
    issuer_name: str | None = None
    pdf_url: str | None = None
    add_to_profile_url: str | None = None
    open_badge_url: str | None = None

    @property
    def valid(self) -> bool:
        return self.result == "VALID"


def linkedin_add_url(verification: Verification) -> str | None:
    """LinkedIn's documented "add a certification to your profile" link, pre-filled."""
    if not verification.valid or verification.issued_at is None:
        return None
    query = urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": verification.course_title or "",
            "organizationName": verification.issuer_name or "",
            "issueYear": verification.issued_at.year,
            "issueMonth": verification.issued_at.month,
            "certUrl": verification.verification_url or "",
            "certId": verification.certificate_id or "",
        }
    )
    return f"https://www.linkedin.com/profile/add?{query}"


def verify_certificate(
    session: Session, viewer: Viewer, *, certificate_id: str, version: int | None = None
) -> Verification:
    """Public: confirm a certificate id and show what its paper should say. Never an error.

    `version` is the one printed on the paper in hand (its QR link carries it): an older
    one is `superseded` by the latest, whose details and PDF are shown.
    """
    text = (certificate_id or "")[:200]
    if not is_well_formed(text):
        return Verification(
            "MALFORMED",
            "This is not a certificate id: check it against the paper "
            "(ids look like LYC-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX).",
        )
    code = normalize_code(text)
    cert = _by_code(session, code)
    if cert is None:
        return Verification("NOT_FOUND", "No certificate has this id.", certificate_id=code)
    common = dict(
        certificate_id=cert.code,
        holder_name=cert.student_name,
        course_title=cert.course_title,
        instructor_names=list(cert.instructor_names or []),
        completed_at=cert.completed_at,
        issued_at=cert.issued_at,
        version=cert.version or None,
        status=cert.status,
        revoked_at=cert.revoked_at,
        revoked_reason=cert.revoked_reason,
        verification_url=verification_url(cert.code),
        superseded=bool(version and cert.version and version < cert.version),
        issuer_name=enrollment_settings().school_name,
        open_badge_url=open_badge_url(cert),
    )
    if cert.status == CertificateStatus.REVOKED:
        return Verification(
            "REVOKED", "This certificate was revoked and is no longer valid.", **common
        )
    if cert.status == CertificateStatus.PENDING or cert.version == 0:
        return Verification(
            "PENDING", "This certificate is being issued; try again in a minute.", **common
        )
    message = "This certificate is genuine."
    if common["superseded"]:
        message = f"This certificate is genuine; version {cert.version} supersedes this paper."
    verification = Verification("VALID", message, **common)
    pdf = None
    if cert.storage_key:
        name = pdf_file_name(cert.code, _course_slug(session, cert))
        pdf = download_url(cert.storage_key, file_name=name)
    return dataclasses.replace(
        verification, pdf_url=pdf, add_to_profile_url=linkedin_add_url(verification)
    )


# --- the pipeline's side (worker) ---------------------------------------------------------


@dataclass(frozen=True)
class IssueSnapshot:
    """Everything one version of a certificate prints, read in one short transaction."""

    certificate_id: uuid.UUID
    code: str
    version: int
    student_id: uuid.UUID
    student_name: str
    student_email: str
    course_title: str
    instructor_names: list[str]
    completed_at: datetime
    verification_url: str
    school_name: str
    paper: str


def issue_snapshot(
    session: Session, certificate_id: uuid.UUID, version: int
) -> IssueSnapshot | str:
    """What version `version` prints, or why there is nothing to do (a string)."""
    cert = session.get(Certificate, certificate_id)
    if cert is None:
        return "certificate gone"
    if cert.status == CertificateStatus.REVOKED:
        return "certificate revoked"
    if cert.version >= version:
        return f"version {version} already issued"
    student = users.contacts(session, [cert.student_id]).get(cert.student_id)
    title = courses.course_titles(session, [cert.course_id]).get(cert.course_id)
    if student is None or title is None:
        return "student or course gone"
    instructors = courses.instructor_names(session, cert.course_id)
    es = enrollment_settings()
    return IssueSnapshot(
        cert.id,
        cert.code,
        version,
        cert.student_id,
        student["name"],
        student["email"],
        title,
        instructors,
        cert.completed_at,
        verification_url(cert.code, version=version),
        es.school_name,
        es.certificate_paper,
    )


def _course_slug(session: Session, cert: Certificate) -> str:
    return courses.course_slugs(session, [cert.course_id]).get(cert.course_id, "course")


def record_issued(
    session: Session,
    snapshot: IssueSnapshot,
    *,
    key: str,
    pdf: bytes,
    job_id: uuid.UUID | None = None,
) -> CertificateView | None:
    """Record a stored version, request the email and announce it (after commit).

    None when a newer version was recorded meanwhile or the certificate was revoked.
    """
    cert = session.scalar(
        select(Certificate).where(Certificate.id == snapshot.certificate_id).with_for_update()
    )
    if cert is None or cert.status == CertificateStatus.REVOKED or cert.version >= snapshot.version:
        return None
    first = cert.version == 0
    now = utcnow()
    cert.version, cert.status, cert.issued_at = snapshot.version, CertificateStatus.ISSUED, now
    cert.storage_key, cert.size_bytes = key, len(pdf)
    cert.content_hash = hashlib.sha256(pdf).hexdigest()
    cert.student_name, cert.course_title = snapshot.student_name[:200], snapshot.course_title[:200]
    cert.instructor_names = snapshot.instructor_names
    if cert.status_list_index is None:
        cert.status_list_index = free_status_list_index(session)
    view = certificate_view(cert)
    if first:
        record(
            session,
            actor_id=snapshot.student_id,
            verb="earned",
            object_type="certificate",
            object_id=cert.id,
            course_id=cert.course_id,
            result={"completion": True},
        )
    notify(
        session,
        user_id=snapshot.student_id,
        type="CERTIFICATE_ISSUED",
        title=f'Your certificate for "{snapshot.course_title}"',
        key=f"certificate:{cert.id}:v{cert.version}",
        link=view.verification_url,
        data={"certificateId": str(cert.id), "courseId": str(cert.course_id)},
        email_template="certificate_issued",
        email_context={
            "name": snapshot.student_name,
            "course_title": snapshot.course_title,
            "verify_url": view.verification_url,
            "download_url": download_url(
                key, file_name=pdf_file_name(cert.code, _course_slug(session, cert))
            ),
        },
    )
    enrollment = session.get(Enrollment, cert.enrollment_id)
    event = certificate_event(view)
    publish_after_commit(session, CERTIFICATE_TOPIC, event)
    if first and enrollment is not None:
        publish_after_commit(
            session,
            COMPLETED_TOPIC,
            {
                "enrollmentId": enrollment.id,
                "studentId": enrollment.student_id,
                "courseId": enrollment.course_id,
                "courseTitle": snapshot.course_title,
                "completedAt": enrollment.completed_at,
                "certificate": event,
            },
        )
    return view


def certificate_event(view: CertificateView) -> dict:
    """The `certificateGenerated` payload: the certificate as the API shows it."""
    return {camel(name): getattr(view, name) for name in CertificateView.__dataclass_fields__} | {
        "status": view.status.value
    }


def certificate_from_event(data: dict) -> CertificateView:
    """Back from a bus payload (ids and dates stay strings; the scalars accept them)."""
    values = {name: data.get(camel(name)) for name in CertificateView.__dataclass_fields__}
    values["status"] = CertificateStatus(values["status"])
    return CertificateView(**values)


def validate_reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > 500:
        raise ValidationFailed(
            "a reason has at most 500 characters",
            code=EnrollmentCode.REASON_TOO_LONG,
            field="reason",
        )
    return reason
