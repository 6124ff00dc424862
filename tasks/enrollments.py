"""Enrollments tasks: the certificate steps of the issuance pipeline (render a version's PDF,
store it).

Thin wrappers over the pure `certificates` library and the storage interface; the
workflow that strings them together with the database lives in
`pipelines/certificate_issuance.py`.
"""

from __future__ import annotations

from certificates import CertificateData, render_certificate_pdf
from lms.config import Settings
from lms.enrollments.certificates import IssueSnapshot
from lms.enrollments.settings import enrollment_settings
from lms.errors import PermanentJobError
from lms.storage import get_storage


def certificate_data(snapshot: IssueSnapshot) -> CertificateData:
    """What the PDF prints; blank names or a broken signature/seal file fail at once (no
    retry can fix them) with a stable code: INVALID_CERTIFICATE_DATA, INVALID_CERTIFICATE_IMAGE.
    """
    try:
        signature, seal = enrollment_settings().certificate_images()
        return CertificateData(
            student_name=snapshot.student_name,
            course_title=snapshot.course_title,
            instructor_names=snapshot.instructor_names,
            issued_at=snapshot.completed_at,
            certificate_code=snapshot.code,
            verification_url=snapshot.verification_url,
            version=snapshot.version,
            school_name=snapshot.school_name,
            signature_image=signature,
            seal_image=seal,
        )
    except ValueError as error:  # CertificateImageError is one, with its own code
        code = getattr(error, "code", "INVALID_CERTIFICATE_DATA")
        raise PermanentJobError(str(error), code=code) from None


def render_pdf(snapshot: IssueSnapshot) -> bytes:
    """The PDF bytes (deterministic: a re-run renders the same file)."""
    return render_certificate_pdf(certificate_data(snapshot), paper=snapshot.paper)  # type: ignore[arg-type]


def store_pdf(settings: Settings, key: str, pdf: bytes) -> None:
    """Write the PDF under its deterministic key, replacing an earlier run's copy."""
    get_storage(settings).put_bytes(key, pdf, content_type="application/pdf")
