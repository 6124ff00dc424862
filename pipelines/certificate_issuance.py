"""The certificate issuance pipeline, one `certificates.issue` job per version:

    snapshot  read what the version prints (student, course, instructors, date, code)
    render    the PDF with ReportLab and a QR code of the verification URL   (tasks.certificates)
    store     under `certificates/{code}/v{version}.pdf`                       (tasks.certificates)
    record    version, content hash, status ISSUED; in the same transaction the
              `email.send` job with the links; after commit the `certificateGenerated`
              (and, for the first version, `courseCompleted`) events

The completing request records the PENDING certificate and this job in one transaction
(lms.enrollments.certificates.start_issuance), so the work is never lost. Every step is
idempotent: a redelivered job finds its version recorded and stops, a re-run overwrites the
same key with the same bytes, and a revoked certificate is never (re)issued.
"""

from __future__ import annotations

import uuid

from lms.db import session_scope
from lms.enrollments.certificates import ISSUE_JOB, issue_snapshot, record_issued, storage_key
from lms.errors import PermanentJobError
from tasks.base import JobContext, job_task
from tasks.certificates import render_pdf, store_pdf


def _payload(job: JobContext) -> tuple[uuid.UUID, int]:
    try:
        return uuid.UUID(str(job.payload["certificate_id"])), int(job.payload["version"])
    except (KeyError, TypeError, ValueError):
        raise PermanentJobError(
            "the job names no valid certificate version", code="INVALID_PAYLOAD"
        ) from None


@job_task(ISSUE_JOB)
def issue_certificate(job: JobContext) -> dict:
    certificate_id, version = _payload(job)
    with session_scope(job.settings) as session:
        snapshot = issue_snapshot(session, certificate_id, version)
    if isinstance(snapshot, str):
        return {"skipped": snapshot}
    pdf = render_pdf(snapshot)
    key = storage_key(snapshot.code, snapshot.version)
    store_pdf(job.settings, key, pdf)
    with session_scope(job.settings) as session:
        view = record_issued(session, snapshot, key=key, pdf=pdf, job_id=job.job_id)
    if view is None:
        return {"skipped": "superseded or revoked while rendering", "key": key}
    return {
        "certificateId": view.id,
        "version": view.version,
        "key": key,
        "sha256": view.content_hash,
        "bytes": len(pdf),
    }
