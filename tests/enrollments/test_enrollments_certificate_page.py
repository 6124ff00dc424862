"""The QR code's URL opens a public certificate page that agrees with verifyCertificate.

A real worker issues the certificate; the page is fetched as a phone would after scanning
the paper, and every field it shows is compared with the GraphQL answer.
"""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from lms.db import session_scope
from lms.users.models import Role, User
from tests.enrollments.support import complete, enroll, make_course
from tests.support import JobWatcher, create_user, start_worker

CERTIFICATE = """query($e: ID!) { enrollment(id: $e) { certificate {
  id version status verificationUrl generationJobId } } }"""
REGENERATE = "mutation($e: ID!) { regenerateCertificate(enrollmentId: $e) { generationJobId } }"
REVOKE = """mutation($c: String!) {
  revokeCertificate(certificateId: $c, reason: "issued in error") { status } }"""
VERIFY = """query($id: String!, $v: Int) { verifyCertificate(certificateId: $id, version: $v) {
  result valid message certificateId holderName courseTitle instructorNames completedAt issuedAt
  version status revokedAt revokedReason verificationUrl superseded issuerName pdfUrl
  addToProfileUrl openBadgeUrl } }"""


class Fields(HTMLParser):
    """Text and links of the elements marked `data-field` (named like the API's fields)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.times: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        name = attrs.get("data-field")
        if name:
            self.text[name] = ""
            if tag == "a":
                self.links[name] = attrs["href"]
        elif tag == "time" and self._current():
            self.times[self._current()] = attrs["datetime"]
        self._open.append(name)

    def handle_endtag(self, tag) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data) -> None:
        if self._current():
            self.text[self._current()] += data

    def _current(self) -> str | None:
        return next((name for name in reversed(self._open) if name), None)


@pytest.fixture(scope="module")
def worker():
    process = start_worker("certificates")
    yield process
    process.stop()


def page(api, url: str):
    """Open a link of this test's API (links name the configured public URL)."""
    parts = urlsplit(url)
    return api.http.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)


def shown(api, url: str) -> Fields:
    response = page(api, url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.text
    assert '<html lang="en">' in html and 'name="viewport"' in html
    assert "<script" not in html and "http://" not in html.split("<main>")[0]  # no assets
    return Fields(html)


def verify(api, code: str, version: int | None = None) -> dict:
    return api.data(VERIFY, {"id": code, "v": version})["verifyCertificate"]


def issue(api, watcher, token: str, enrollment_id: str, document=CERTIFICATE) -> dict:
    job = api.data(document, {"e": enrollment_id}, token)
    job = job.get("regenerateCertificate") or job["enrollment"]["certificate"]
    assert watcher.wait(job["generationJobId"])["status"] == "SUCCEEDED"
    return api.data(CERTIFICATE, {"e": enrollment_id}, token)["enrollment"]["certificate"]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_qr_link_opens_a_page_that_agrees_with_verify_certificate(api, worker):
    owner, _ = create_user(Role.EDUCATOR)
    student, token = create_user(Role.STUDENT)
    with session_scope() as session:
        session.get(User, owner.id).name = "Ada Lovelace"
        session.get(User, student.id).name = "Grace <Hopper>"  # escaped, not markup
    course = make_course(owner.id, title="Analytical Engines")
    enrollment_id = enroll(api, token, course.id)["id"]
    with JobWatcher() as watcher:
        complete(api, token, enrollment_id, course.lessons[0])
        certificate = issue(api, watcher, token, enrollment_id)
        assert certificate["verificationUrl"].endswith(f"/{certificate['id']}?v=1")

        fields = shown(api, certificate["verificationUrl"])
        api_view = verify(api, certificate["id"], 1)
        assert api_view["result"] == "VALID" and api_view["superseded"] is False
        assert fields.text["status"] == "Valid"
        for name in ("holderName", "courseTitle", "certificateId", "message"):
            assert fields.text[name].strip() == api_view[name], name
        assert fields.text["holderName"] == "Grace <Hopper>"
        assert fields.text["instructorNames"] == ", ".join(api_view["instructorNames"])
        assert fields.text["version"] == str(api_view["version"]) == "1"
        for name in ("issuedAt", "completedAt"):
            assert instant(fields.times[name]) == instant(api_view[name]), name

        # The PDF opens inline from the page (signed: the same file, maybe a later expiry).
        assert urlsplit(fields.links["pdfUrl"]).path == urlsplit(api_view["pdfUrl"]).path
        pdf = page(api, fields.links["pdfUrl"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

        # LinkedIn's add-to-profile link, with its documented parameters.
        linkedin = fields.links["addToProfileUrl"]
        assert linkedin == api_view["addToProfileUrl"]
        parts = urlsplit(linkedin)
        assert (parts.scheme, parts.netloc, parts.path) == (
            "https",
            "www.linkedin.com",
            "/profile/add",
        )
        issued = instant(api_view["issuedAt"])
        assert {key: values[0] for key, values in parse_qs(parts.query).items()} == {
            "startTask": "CERTIFICATION_NAME",
            "name": "Analytical Engines",
            "organizationName": api_view["issuerName"],
            "issueYear": str(issued.year),
            "issueMonth": str(issued.month),
            "certUrl": api_view["verificationUrl"],
            "certId": certificate["id"],
        }

        # A regenerated certificate supersedes the first paper, whose QR says so.
        second = issue(api, watcher, token, enrollment_id, REGENERATE)
        assert second["version"] == 2
    old_paper = shown(api, certificate["verificationUrl"])
    assert old_paper.text["status"] == "Superseded by a newer version"
    assert verify(api, certificate["id"], 1)["superseded"] is True
    assert old_paper.text["message"] == verify(api, certificate["id"], 1)["message"]
    assert shown(api, second["verificationUrl"]).text["status"] == "Valid"

    # Revoked: the page says so with the reason, and offers neither PDF nor LinkedIn; the
    # Open Badges credential stays reachable, its status list saying revoked.
    _, admin_token = create_user(Role.ADMIN)
    api.data(REVOKE, {"c": certificate["id"]}, admin_token)
    revoked = shown(api, second["verificationUrl"])
    api_view = verify(api, certificate["id"], 2)
    assert (revoked.text["status"], api_view["result"]) == ("Revoked", "REVOKED")
    assert revoked.text["revokedReason"] == api_view["revokedReason"] == "issued in error"
    assert instant(revoked.times["revokedAt"]) == instant(api_view["revokedAt"])
    assert set(revoked.links) == {"openBadgeUrl"} and api_view["pdfUrl"] is None
    assert revoked.links["openBadgeUrl"] == api_view["openBadgeUrl"]


def test_unknown_and_malformed_ids_answer_a_404_page(api):
    response = page(api, "/certificates/verify/LYC-NOPE")
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
    assert Fields(response.text).text["status"] == "Not a certificate id"
