"""From enrolment to a verifiable certificate, end to end: GraphQL over HTTP, subscriptions
over websocket, a real worker on the `certificates` and `email` queues, the PDF read back
with pypdf and its QR code decoded with zbar."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import unicodedata
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from PIL import Image, ImageDraw
from pypdf import PdfReader
from pypdf.generic import ContentStream

from lms.config import get_settings
from lms.db import session_scope
from lms.users.models import Role, User
from tests.enrollments.support import (
    CERTIFICATE_FIELDS,
    VERIFY,
    complete,
    enroll,
    issued_certificate,
    make_course,
    pdf_file_name,
    report,
)
from tests.support import JobWatcher, create_user, start_worker

MY_CERTIFICATES = f"{{ myCertificates {{ {CERTIFICATE_FIELDS} }} }}"
ENROLLMENT_CERTIFICATE = (
    f"query($e: ID!) {{ enrollment(id: $e) {{ status certificate {{ {CERTIFICATE_FIELDS} }} }} }}"
)
REGENERATE = (
    f"mutation($e: ID!) {{ regenerateCertificate(enrollmentId: $e) {{ {CERTIFICATE_FIELDS} }} }}"
)
REVOKE = (
    'mutation($c: String!) { revokeCertificate(certificateId: $c, reason: "issued in error") { '
    "status } }"
)

PROGRESS = gql(
    "subscription($e: ID!) { enrollmentProgressUpdated(enrollmentId: $e) "
    "{ enrollmentId status progressPercent completedLessons totalLessons } }"
)
LESSONS = gql(
    "subscription($e: ID!) { lessonProgressUpdated(enrollmentId: $e) { lessonId completed } }"
)
CERTIFICATE = gql(
    f"subscription($e: ID!) {{ certificateGenerated(enrollmentId: $e) {{ {CERTIFICATE_FIELDS} }} }}"
)
COMPLETED = gql(
    "subscription($e: ID!) { courseCompleted(enrollmentId: $e) "
    "{ enrollmentId courseTitle completedAt certificate { id version status } } }"
)


@pytest.fixture(scope="module")
def worker():
    process = start_worker("certificates,email")
    yield process
    process.stop()


def transport(api, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=api.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=["graphql-transport-ws"],
    )


def student_named(name: str) -> tuple[User, str]:
    user, token = create_user(Role.STUDENT)
    with session_scope() as session:
        session.get(User, user.id).name = name
    return user, token


def rename(user: User, name: str) -> None:
    with session_scope() as session:
        session.get(User, user.id).name = name


def download(api, url: str) -> bytes:
    """Fetch a signed link from this test's API (links name the configured public URL)."""
    parts = urlsplit(url)
    response = api.http.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    return response.content


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def qr_url(pdf: bytes, tmp_path: Path) -> str:
    """Redraw the filled squares of the page (the QR symbol) as an image and decode it with zbar."""
    reader = PdfReader(io.BytesIO(pdf))
    page = reader.pages[0]
    squares, path = [], []
    for operands, operator in ContentStream(page.get_contents(), reader).operations:
        if operator == b"re":
            path.append([float(v) for v in operands])
        elif operator in (b"f", b"f*"):
            squares += path
            path = []
        elif operator in (b"S", b"s", b"n", b"B", b"b"):
            path = []
    assert squares, "no filled shapes on the page"
    left, bottom = min(x for x, *_ in squares), min(y for _, y, *_ in squares)
    right, top = max(x + w for x, _, w, _ in squares), max(y + h for _, y, _, h in squares)
    scale, margin = 6, 60
    image = Image.new(
        "L",
        (int((right - left) * scale) + 2 * margin, int((top - bottom) * scale) + 2 * margin),
        255,
    )
    draw = ImageDraw.Draw(image)
    for x, y, w, h in squares:
        x0, y0 = margin + (x - left) * scale, margin + (top - y - h) * scale
        draw.rectangle(
            [round(x0), round(y0), round(x0 + w * scale) - 1, round(y0 + h * scale) - 1], fill=0
        )
    target = tmp_path / "qr.png"
    image.save(target)
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "scripts/bootstrap installs Debian's zbar-tools"
    out = subprocess.run(
        [zbarimg, "--raw", "-q", str(target)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def emails_to(address: str) -> list:
    outbox = Path(get_settings().email_url.removeprefix("outbox:"))
    found = []
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] and address in message["To"]:
            found.append(message)
    return found


async def next_event(stream, field: str, timeout: float = 60) -> dict:
    async with asyncio.timeout(timeout):
        return (await stream.__anext__())[field]


async def test_student_goes_from_enrolment_to_a_verifiable_certificate(api, worker, tmp_path):
    owner, owner_token = create_user(Role.EDUCATOR)
    co, _ = create_user(Role.EDUCATOR)
    rename(owner, "Ada Lovelace")
    rename(co, "Charles Babbage")
    student, token = student_named("Grace Hopper")
    course = make_course(
        owner.id,
        title="Compilers from Scratch",
        co_instructors=[co.id],
        lessons=[("Film", "VIDEO", False), ("Notes", "TEXT", True), ("Quiz", "QUIZ", True)],
    )
    enrollment = await asyncio.to_thread(enroll, api, token, course.id)
    e = enrollment["id"]
    film, notes, quiz = course.lessons
    variables = {"e": e}

    async with (
        Client(transport=transport(api, token)) as student_ws,
        Client(transport=transport(api, owner_token)) as teacher_ws,
    ):
        completed = student_ws.subscribe(COMPLETED, variable_values=variables)
        generated = student_ws.subscribe(CERTIFICATE, variable_values=variables)
        teacher_completed = teacher_ws.subscribe(COMPLETED, variable_values=variables)
        lessons = student_ws.subscribe(LESSONS, variable_values=variables)
        progress = student_ws.subscribe(PROGRESS, variable_values=variables)
        teacher_progress = teacher_ws.subscribe(PROGRESS, variable_values=variables)
        # A subscription starts when first awaited, and the server registers it asynchronously.
        waiting = [
            asyncio.ensure_future(s.__anext__()) for s in (completed, generated, teacher_completed)
        ]
        probes = [
            asyncio.ensure_future(s.__anext__()) for s in (progress, lessons, teacher_progress)
        ]
        spent = 0
        while not all(probe.done() for probe in probes):  # report (new) progress until all hear it
            spent += 1
            await asyncio.to_thread(
                report, api, token, e, film, percentWatched=10, timeSpentSeconds=spent
            )
            await asyncio.wait(probes, timeout=0.5, return_when=asyncio.ALL_COMPLETED)
        assert probes[0].result()["enrollmentProgressUpdated"]["enrollmentId"] == e
        assert (
            probes[2].result()["enrollmentProgressUpdated"]["enrollmentId"] == e
        )  # the instructor too

        await asyncio.to_thread(
            report,
            api,
            token,
            e,
            film,
            percentWatched=95,
            positionSeconds=570,
            timeSpentSeconds=600,
        )
        lesson_event = probes[1].result()["lessonProgressUpdated"]
        while not lesson_event["completed"]:
            lesson_event = await next_event(lessons, "lessonProgressUpdated")
        assert lesson_event["lessonId"] == film
        await asyncio.to_thread(complete, api, token, e, notes)
        last = await asyncio.to_thread(complete, api, token, e, quiz)
        assert last["enrollment"]["status"] == "COMPLETED"
        assert last["enrollment"]["progressPercent"] == 100

        seen = None
        while seen is None or seen["progressPercent"] < 100:
            seen = await next_event(progress, "enrollmentProgressUpdated")
        assert (seen["status"], seen["completedLessons"], seen["totalLessons"]) == (
            "COMPLETED",
            3,
            3,
        )

        async with asyncio.timeout(60):
            done, certificate, teacher_done = await asyncio.gather(*waiting)
    course_completed = done["courseCompleted"]
    certificate = certificate["certificateGenerated"]
    assert (
        course_completed["enrollmentId"] == e
        and course_completed["courseTitle"] == "Compilers from Scratch"
    )
    assert course_completed["certificate"] == {
        "id": certificate["id"],
        "version": 1,
        "status": "ISSUED",
    }
    assert teacher_done["courseCompleted"]["certificate"]["id"] == certificate["id"]
    assert (certificate["studentName"], certificate["courseTitle"]) == (
        "Grace Hopper",
        "Compilers from Scratch",
    )
    assert certificate["instructorNames"] == ["Ada Lovelace", "Charles Babbage"]

    # The student's list has it too, with a link to the stored PDF.
    mine = (await asyncio.to_thread(api.data, MY_CERTIFICATES, None, token))["myCertificates"]
    assert [c["id"] for c in mine] == [certificate["id"]]
    pdf = await asyncio.to_thread(download, api, mine[0]["downloadUrl"])
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in ("Grace Hopper", "Compilers from Scratch", "Ada Lovelace", certificate["id"]):
        assert expected in text

    # The QR code on the page leads to the public verification of this very certificate.
    url = qr_url(pdf, tmp_path)
    assert url == certificate["verificationUrl"]
    assert urlsplit(url).query == "v=1"  # the paper's version: a newer one would say so
    code = urlsplit(url).path.rsplit("/", 1)[-1]
    verified = await asyncio.to_thread(api.data, VERIFY, {"id": code})
    verified = verified["verifyCertificate"]
    assert (
        verified["result"],
        verified["valid"],
        verified["holderName"],
        verified["courseTitle"],
    ) == ("VALID", True, "Grace Hopper", "Compilers from Scratch")
    assert verified["completedAt"] == course_completed["completedAt"]

    # And the student got an email with both links.
    with session_scope() as session:
        address = session.get(User, student.id).email
    messages = await asyncio.to_thread(emails_to, address)
    # (The enrolment confirmation is another email.)
    messages = [m for m in messages if m["X-Lyceum-Template"] == "certificate_issued"]
    assert len(messages) == 1
    body = messages[0].get_body(("plain",)).get_content()
    assert (
        "Compilers from Scratch" in messages[0]["Subject"]
        and certificate["verificationUrl"] in body
    )


async def test_regenerating_keeps_the_id_with_a_new_version_and_admins_revoke(
    api, worker, tmp_path
):
    owner, _ = create_user(Role.EDUCATOR)
    student, token = student_named("Jo March")
    _, admin_token = create_user(Role.ADMIN)
    course = make_course(owner.id, title="Writing")
    e = enroll(api, token, course.id)["id"]
    with JobWatcher() as watcher:
        complete(api, token, e, course.lessons[0])
        first = api.data(ENROLLMENT_CERTIFICATE, {"e": e}, token)["enrollment"]["certificate"]
        assert first["status"] in ("PENDING", "ISSUED")
        assert (await asyncio.to_thread(watcher.wait, first["generationJobId"]))[
            "status"
        ] == "SUCCEEDED"
        rename(student, "Josephine March")
        again = api.data(REGENERATE, {"e": e}, token)["regenerateCertificate"]
        assert again["id"] == first["id"]
        assert (await asyncio.to_thread(watcher.wait, again["generationJobId"]))[
            "status"
        ] == "SUCCEEDED"
    second = api.data(ENROLLMENT_CERTIFICATE, {"e": e}, token)["enrollment"]["certificate"]
    assert (second["id"], second["version"], second["studentName"]) == (
        first["id"],
        2,
        "Josephine March",
    )
    assert "Josephine March" in pdf_text(download(api, second["downloadUrl"]))
    verified = api.data(VERIFY, {"id": first["id"]})["verifyCertificate"]
    assert (verified["holderName"], verified["version"], verified["result"]) == (
        "Josephine March",
        2,
        "VALID",
    )

    assert api.error_codes(REVOKE, {"c": first["id"]}, token) == ["FORBIDDEN"]
    assert (
        api.data(REVOKE, {"c": first["id"]}, admin_token)["revokeCertificate"]["status"]
        == "REVOKED"
    )
    verified = api.data(VERIFY, {"id": first["id"]})["verifyCertificate"]
    assert (verified["result"], verified["valid"], verified["status"]) == (
        "REVOKED",
        False,
        "REVOKED",
    )
    assert api.error_codes(REGENERATE, {"e": e}, token) == ["CERTIFICATE_REVOKED"]


@pytest.mark.parametrize("name", ["محمد عبد الرحيم", "שרה לוי", "李雷 Zoë"])
async def test_non_latin_and_right_to_left_names_print_on_the_certificate(api, worker, name):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = student_named(name)
    course = make_course(owner.id, title="Poetry")
    e = enroll(api, token, course.id)["id"]
    with JobWatcher() as watcher:
        complete(api, token, e, course.lessons[0])
        job = api.data(ENROLLMENT_CERTIFICATE, {"e": e}, token)["enrollment"]["certificate"][
            "generationJobId"
        ]
        assert (await asyncio.to_thread(watcher.wait, job))["status"] == "SUCCEEDED"
    certificate = api.data(ENROLLMENT_CERTIFICATE, {"e": e}, token)["enrollment"]["certificate"]
    raw = pdf_text(download(api, certificate["downloadUrl"]))
    if any(unicodedata.bidirectional(ch) == "AL" for ch in name):  # Arabic letters join up
        joined = {unicodedata.name(ch).split()[-2] for ch in raw if 0xFE70 <= ord(ch) <= 0xFEFF}
        assert {"INITIAL", "MEDIAL", "FINAL"} <= joined
    text = unicodedata.normalize("NFKC", raw)
    # no stand-ins for missing glyphs (the printed URL's "?v=N" may wrap onto its own line)
    assert "?" not in text.replace(certificate["verificationUrl"], "").replace("?v=", "")
    # A right-to-left name is laid out right to left: read left to right, its words come last
    # first. pypdf gives each word back in reading order, and NFKC folds Arabic letters' joined
    # forms back to the letters, so an unshaped or unreordered name would not match.
    words = " ".join(text.split())
    rtl = unicodedata.bidirectional(name[0]) in ("R", "AL")
    assert (" ".join(reversed(name.split())) if rtl else name) in words


def test_the_pdf_opens_in_the_browser_or_downloads_under_a_meaningful_name(api, worker):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    with JobWatcher() as watcher:
        course, certificate = issued_certificate(api, token, owner.id, watcher)
    name = pdf_file_name(course.id, certificate["id"])

    def fetch(url: str):
        parts = urlsplit(url)  # links name the configured public URL, not this test's port
        response = api.http.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        return response

    shown = fetch(certificate["inline"])
    assert shown.headers["content-disposition"] == (
        f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    )
    saved = fetch(certificate["attachment"])
    assert saved.headers["content-disposition"].startswith(f'attachment; filename="{name}"')
    # The same link with ?download=1, as a "Download" button next to the viewer would add.
    also_saved = fetch(certificate["inline"] + "&download=1")
    assert also_saved.headers["content-disposition"] == saved.headers["content-disposition"]
    assert shown.content == saved.content


async def test_a_student_cannot_subscribe_to_another_students_progress(api):
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    _, other_token = create_user(Role.STUDENT)
    e = enroll(api, token, make_course(owner.id).id)["id"]
    for document in (PROGRESS, LESSONS, CERTIFICATE, COMPLETED):
        async with Client(transport=transport(api, other_token)) as session:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(document, variable_values={"e": e}):
                    pass
            assert refused.value.errors[0]["extensions"]["code"] == "ENROLLMENT_NOT_FOUND"
