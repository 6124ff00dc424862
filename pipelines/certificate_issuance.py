"""Certificate issuance, on the pipeline engine: one `certificates.issue` job per version,
declared as `lms.enrollments.certificates.CERTIFICATE_ISSUANCE` (inline steps, in order):

    snapshot  read what the version prints (student, course, instructors, date, code)
    render    the PDF with ReportLab and a QR code of the verification URL   (tasks.enrollments)
    store     under `certificates/{code}/v{version}.pdf`                       (tasks.enrollments)
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
from typing import Any

from lms.db import session_scope
from lms.enrollments.certificates import (
    CERTIFICATE_ISSUANCE,
    issue_snapshot,
    record_issued,
    storage_key,
)
from lms.errors import PermanentJobError
from pipelines import engine
from pipelines.engine import Stop, StepRun
from tasks.enrollments import render_pdf, store_pdf


def _payload(run: StepRun) -> tuple[uuid.UUID, int]:
    payload = run.job.payload
    try:
        return uuid.UUID(str(payload[CERTIFICATE_ISSUANCE.subject_key])), int(payload["version"])
    except (KeyError, TypeError, ValueError):
        raise PermanentJobError(
            "the job names no valid certificate version", code="INVALID_PAYLOAD"
        ) from None


def snapshot(run: StepRun) -> Any:
    certificate_id, version = _payload(run)
    with session_scope(run.settings) as session:
        found = issue_snapshot(session, certificate_id, version)
    return Stop({"skipped": found}) if isinstance(found, str) else found


def render(run: StepRun) -> bytes:
    return render_pdf(run.results["snapshot"])


def store(run: StepRun) -> str:
    found = run.results["snapshot"]
    key = storage_key(found.code, found.version)
    store_pdf(run.settings, key, run.results["render"])
    return key


def record(run: StepRun) -> dict[str, Any]:
    found, pdf, key = run.results["snapshot"], run.results["render"], run.results["store"]
    with session_scope(run.settings) as session:
        view = record_issued(session, found, key=key, pdf=pdf, job_id=run.job.job_id)
    if view is None:
        return {"skipped": "superseded or revoked while rendering", "key": key}
    return {
        "certificateId": view.id,
        "version": view.version,
        "key": key,
        "sha256": view.content_hash,
        "bytes": len(pdf),
    }


PIPELINE = engine.bind(
    CERTIFICATE_ISSUANCE,
    {"snapshot": snapshot, "render": render, "store": store, "record": record},
)
