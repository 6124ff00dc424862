"""The public certificate page at the verification URL (the QR code on the paper).

Served by the API when no front end is configured (LMS_APP_URL unset). It shows exactly
what `verifyCertificate` answers (the same service call): holder, course, instructors,
issue date, status, the PDF, the Open Badges credential and LinkedIn's add-to-profile link.
Mobile-first, accessible HTML with inline styles only: no scripts, fonts or images from
anywhere.

Also here, because verifiers of the credentials reach them the same way: the issuer's DID
document, each certificate's Open Badges credential and the revocation status list, as
public JSON-LD (`lms/enrollments/badges.py`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from quart import Blueprint, Response, current_app, request

from lms.enrollments import badges
from lms.enrollments.certificates import Verification, verify_certificate
from lms.enrollments.settings import enrollment_settings
from lms.security import ANONYMOUS

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
STATUS = {  # result → (label, tone); the label is the text, colour only reinforces it
    "VALID": ("Valid", "ok"),
    "SUPERSEDED": ("Superseded by a newer version", "warn"),
    "REVOKED": ("Revoked", "bad"),
    "PENDING": ("Being issued", "warn"),
    "NOT_FOUND": ("Not found", "bad"),
    "MALFORMED": ("Not a certificate id", "bad"),
}

PAGE = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"), autoescape=True
).get_template("certificate.html")


def _day(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


def render(verification: Verification) -> str:
    result = verification.result
    if result == "VALID" and verification.superseded:
        result = "SUPERSEDED"
    label, tone = STATUS[result]
    found = verification.holder_name is not None
    heading = verification.course_title if found else "Certificate not found"
    return PAGE.render(
        v=verification,
        label=label,
        tone=tone,
        heading=heading,
        title=f"{label}: {heading}",
        issuer=verification.issuer_name,
        day=_day,
    )


def _route() -> str:
    return enrollment_settings().verify_path.replace("{code}", "<code>")


blueprint = Blueprint("certificate_page", __name__)


@blueprint.get(_route())
async def certificate_page(code: str) -> Response:
    raw_version = request.args.get("v", "")
    version = int(raw_version) if raw_version.isdigit() and len(raw_version) < 6 else None
    sessions = current_app.config["LMS_SERVICES"].sessions
    async with sessions() as session:
        verification = await session.run_sync(
            lambda sync: verify_certificate(sync, ANONYMOUS, certificate_id=code, version=version)
        )
    status = 404 if verification.result in ("NOT_FOUND", "MALFORMED") else 200
    return Response(
        render(verification),
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


# --- Open Badges: public JSON-LD any verifier may fetch -------------------------------------

JSON_LD = "application/ld+json"


async def _read(fn, **kwargs):
    sessions = current_app.config["LMS_SERVICES"].sessions
    async with sessions() as session:
        return await session.run_sync(lambda sync: fn(sync, ANONYMOUS, **kwargs))


def _json(document: dict, *, content_type: str = JSON_LD, max_age: int = 300) -> Response:
    body = json.dumps(document, ensure_ascii=False, indent=2)
    # Any origin: wallets and verifiers fetch these from their own pages.
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": f"public, max-age={max_age}"}
    return Response(body, content_type=f"{content_type}; charset=utf-8", headers=headers)


@blueprint.get(badges.DID_PATH)
async def did_document() -> Response:
    return _json(badges.did_document(), content_type="application/did+ld+json", max_age=3600)


@blueprint.get(badges.STATUS_LIST_PATH)
async def revocation_list() -> Response:
    return _json(await _read(badges.revocation_list), max_age=60)  # revocations show soon


@blueprint.get(badges.BADGE_PATH.replace("{code}", "<code>"))
async def open_badge(code: str) -> Response:
    credential = await _read(badges.open_badge, certificate_id=code)
    if credential is None:
        return Response(
            json.dumps({"error": "no issued certificate has this id"}),
            status=404,
            content_type="application/json",
        )
    return _json(credential)
