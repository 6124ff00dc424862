"""The school's signature and seal (LMS_ENROLLMENT_SIGNATURE_IMAGE / _SEAL_IMAGE) on issued
certificates: a real worker configured with two files issues a PDF that, read back with
pypdf, holds both images, embeds every font and dates itself with the completion time; a
broken file stops start-up, and one broken later fails the job with a stable code."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader

from lms.config import ConfigError, check_domain_settings
from lms.enrollments.certificates import IssueSnapshot
from lms.enrollments.settings import enrollment_settings
from lms.errors import PermanentJobError
from lms.users.models import Role
from tasks.enrollments import render_pdf
from tests.enrollments.support import issued_certificate
from tests.support import JobWatcher, create_user, start_worker


def write_image(path: Path, size: tuple[int, int], kind: str) -> Path:
    mode = "RGBA" if kind == "PNG" else "RGB"
    image = Image.new(mode, size, (255, 255, 255, 0) if mode == "RGBA" else "white")
    ImageDraw.Draw(image).ellipse((2, 2, size[0] - 3, size[1] - 3), outline="navy", width=3)
    image.save(path, format=kind)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("school")
    return {
        "LMS_ENROLLMENT_SIGNATURE_IMAGE": str(write_image(folder / "sig.png", (240, 80), "PNG")),
        "LMS_ENROLLMENT_SEAL_IMAGE": str(write_image(folder / "seal.jpg", (120, 120), "JPEG")),
    }


@pytest.fixture
def fresh_settings():
    enrollment_settings.cache_clear()
    yield
    enrollment_settings.cache_clear()


def image_sizes(reader: PdfReader) -> list[tuple[int, int]]:
    xobjects = reader.pages[0]["/Resources"].get("/XObject", {})
    return sorted(
        (x["/Width"], x["/Height"])
        for x in (ref.get_object() for ref in xobjects.values())
        if x["/Subtype"] == "/Image"
    )


def test_a_worker_with_signature_and_seal_issues_them_on_the_pdf(api, images):
    worker = start_worker("certificates,email", env=images)
    try:
        owner, _ = create_user(Role.EDUCATOR)
        _, token = create_user(Role.STUDENT)
        with JobWatcher() as watcher:
            _, certificate = issued_certificate(api, token, owner.id, watcher)
    finally:
        worker.stop()
    parts = urlsplit(certificate["inline"])
    response = api.http.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    reader = PdfReader(io.BytesIO(response.content))

    assert image_sizes(reader) == [(120, 120), (240, 80)]
    for ref in reader.pages[0]["/Resources"]["/Font"].values():
        font = ref.get_object()
        for part in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
            if part["/Subtype"] != "/Type0":
                assert "/FontFile2" in part["/FontDescriptor"], part["/BaseFont"]
    (mine,) = api.data("{ myCertificates { id completedAt } }", token=token)["myCertificates"]
    completed = datetime.fromisoformat(mine["completedAt"]).astimezone(UTC)
    assert reader.metadata.creation_date == completed.replace(microsecond=0)
    assert reader.metadata.modification_date == reader.metadata.creation_date
    assert reader.metadata.author == "Lyceum"


def test_a_broken_image_file_stops_start_up(tmp_path, monkeypatch, fresh_settings):
    broken = tmp_path / "sig.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    monkeypatch.setenv("LMS_ENROLLMENT_SIGNATURE_IMAGE", str(broken))
    with pytest.raises(ConfigError) as refused:
        check_domain_settings()
    message = str(refused.value)
    assert message.startswith("LMS_ENROLLMENT_SIGNATURE_IMAGE: ")
    assert str(broken) in message and "[INVALID_CERTIFICATE_IMAGE]" in message

    monkeypatch.delenv("LMS_ENROLLMENT_SIGNATURE_IMAGE")
    monkeypatch.setenv("LMS_ENROLLMENT_SEAL_IMAGE", str(tmp_path / "missing.png"))
    with pytest.raises(ConfigError, match=r"LMS_ENROLLMENT_SEAL_IMAGE: cannot read .*missing"):
        check_domain_settings()


def test_an_image_broken_after_start_up_fails_the_job_with_a_stable_code(
    tmp_path, monkeypatch, fresh_settings
):
    seal = write_image(tmp_path / "seal.png", (64, 64), "PNG")
    monkeypatch.setenv("LMS_ENROLLMENT_SEAL_IMAGE", str(seal))
    check_domain_settings()
    snapshot = IssueSnapshot(
        certificate_id=uuid.uuid4(),
        code="LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA",
        version=1,
        student_id=uuid.uuid4(),
        student_name="Ada Lovelace",
        student_email="ada@example.org",
        course_title="Writing",
        instructor_names=["Grace Hopper"],
        completed_at=datetime(2025, 3, 3, 14, 30, tzinfo=UTC),
        verification_url="https://lyceum.example/v/1",
        school_name="Lyceum",
        paper="A4",
    )
    assert image_sizes(PdfReader(io.BytesIO(render_pdf(snapshot)))) == [(64, 64)]

    seal.write_bytes(seal.read_bytes()[:40])  # replaced by a truncated upload
    with pytest.raises(PermanentJobError) as failed:
        render_pdf(snapshot)
    assert failed.value.code == "INVALID_CERTIFICATE_IMAGE"
    assert str(seal) in str(failed.value)
