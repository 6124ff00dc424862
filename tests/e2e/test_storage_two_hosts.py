"""Every kind of file on S3 with the API and the worker on separate disks, as on two hosts.

The API and a worker run as processes with different `LMS_VAR_DIR` folders against moto's
S3 server: whatever one writes, the other can only find through the bucket. A client checks
what it would see: a course cover, an avatar, an admin export, a certificate PDF and a
video's stream, each fetched through the link the API hands out.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from lms.db import session_scope
from lms.jobs.models import Job
from lms.users.models import Role
from tests.admin.helpers import DETAILS, EXPORT
from tests.content.conftest import clip, upload_video
from tests.content.conftest import make_course as make_video_course
from tests.courses.support import COURSE, create_course, png_data_url, verified, wait_for_job
from tests.enrollments.support import issued_certificate, pdf_file_name
from tests.s3_server import s3_server
from tests.support import (
    LMS,
    GraphQLClient,
    JobWatcher,
    Process,
    create_user,
    free_port,
    start_worker,
)

BUCKET = "lyceum-two-hosts"
AVATAR = """mutation($url: String!) { updateProfile(input: {avatarDataUrl: $url}) {
  avatar { status } } }"""
MY_AVATAR = "{ me { avatar { status images { width format key url } } } }"
STREAM = "query($l: ID!) { generateStreamingUrl(lessonId: $l) { url } }"


def host_env(var: Path) -> dict[str, str]:
    """What differs between the two hosts: their own var folder (and outbox in it)."""
    return {"LMS_VAR_DIR": str(var), "LMS_EMAIL_URL": f"outbox:{var / 'outbox'}"}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    api_var, worker_var = tmp_path_factory.mktemp("api-host"), tmp_path_factory.mktemp("worker")
    with s3_server(BUCKET) as s3:
        worker = start_worker(
            "default,media,certificates,email", env={**s3, **host_env(worker_var)}, concurrency=2
        )
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"  # its public URL: stream links come back here
        api = Process(
            [*LMS, "serve", "--port", str(port)],
            {**s3, **host_env(api_var), "LMS_PUBLIC_URL": base_url},
        )
        api.wait_for("Running on")
        client = GraphQLClient(base_url)
        yield client, s3["LMS_S3_ENDPOINT_URL"], (api_var, worker_var)
        client.close()
        api.stop()
        worker.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watching:
        yield watching


def fetch(url: str, **kwargs) -> httpx.Response:
    response = httpx.get(url, timeout=30, **kwargs)
    assert response.status_code == 200, response.text[:500]
    return response


def test_a_course_cover(hosts, watcher):
    api, store, _ = hosts
    _, token = verified(Role.EDUCATOR)
    course = create_course(api, token, coverImageDataUrl=png_data_url(800, 450))
    assert wait_for_job(watcher, course["id"], "courses.resize_cover")["status"] == "SUCCEEDED"
    cover = api.data(COURSE, {"id": course["id"]}, token)["course"]["coverImage"]
    assert cover["status"] == "READY" and cover["variants"]
    for variant in cover["variants"]:
        assert variant["url"].startswith(store)  # presigned: straight from the bucket
        image = fetch(variant["url"])
        assert image.headers["content-type"] == f"image/{variant['format']}"
        with Image.open(io.BytesIO(image.content)) as picture:
            assert picture.size == (variant["width"], variant["height"])


def test_an_avatar(hosts, watcher):
    api, store, _ = hosts
    user, token = verified(Role.STUDENT)
    uploaded = api.data(AVATAR, {"url": png_data_url(300, 200)}, token)["updateProfile"]
    assert uploaded["avatar"]["status"] == "PROCESSING"
    with session_scope() as session:
        job_id = session.scalar(
            select(Job.id).where(Job.kind == "users.avatar_resize", Job.subject_id == str(user.id))
        )
    assert watcher.wait(job_id)["status"] == "SUCCEEDED"
    avatar = api.data(MY_AVATAR, token=token)["me"]["avatar"]
    assert avatar["status"] == "READY" and len(avatar["images"]) == 6
    for image in avatar["images"]:
        assert image["url"].startswith(store)
        with Image.open(io.BytesIO(fetch(image["url"]).content)) as picture:
            assert picture.size == (image["width"], image["width"])


def test_an_admin_export(hosts, watcher):
    api, store, _ = hosts
    _, token = create_user(Role.ADMIN)
    now = datetime.now(UTC)
    period = {
        "s": (now - timedelta(hours=1)).isoformat(),
        "e": (now + timedelta(minutes=1)).isoformat(),
    }
    export = api.data(EXPORT, period, token)["exportMonitoringData"]
    assert watcher.wait(export["id"])["status"] == "SUCCEEDED"
    details = api.data(DETAILS, {"q": "default", "id": export["id"]}, token)["jobDetails"]
    links = {link["format"]: link for link in details["downloads"]}
    assert links["CSV"]["url"].startswith(store)
    table = fetch(links["CSV"]["url"])
    assert table.headers["content-type"].startswith("text/csv")
    assert table.headers["content-disposition"].startswith('attachment; filename="jobs.csv"')
    assert export["id"] in {row["id"] for row in csv.DictReader(io.StringIO(table.text))}
    # The API's own link to the same file sends the browser on to the bucket.
    through_api = fetch(api.base_url + links["JSON"]["path"], follow_redirects=True)
    assert export["id"] in {job["id"] for job in through_api.json()["jobs"]}


def test_a_certificate_pdf(hosts, watcher):
    api, store, _ = hosts
    owner, _ = create_user(Role.EDUCATOR)
    _, token = create_user(Role.STUDENT)
    course, certificate = issued_certificate(api, token, owner.id, watcher)
    name = pdf_file_name(course.id, certificate["id"])
    for link, kind in (
        (certificate["inline"], "inline"),
        (certificate["attachment"], "attachment"),
    ):
        assert link.startswith(store)
        pdf = fetch(link)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"] == (
            f"{kind}; filename=\"{name}\"; filename*=UTF-8''{name}"
        )
        assert pdf.content.startswith(b"%PDF-")


def test_a_video_from_upload_to_stream(hosts, watcher, tmp_path):
    api, store, _ = hosts
    owner, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_video_course(owner.id)
    source = clip(tmp_path / "short.mp4", size="640x360", seconds=2.5)
    asset = upload_video(api, token, lesson_id, source)
    assert asset["uploadUrl"].startswith(store)  # the bytes go straight to the bucket
    assert watcher.wait(asset["processingJobId"], timeout=120)["status"] == "SUCCEEDED"

    master_url = api.data(STREAM, {"l": str(lesson_id)}, token)["generateStreamingUrl"]["url"]
    master = fetch(master_url)
    assert "#EXT-X-STREAM-INF" in master.text
    variant = next(line for line in master.text.splitlines() if line.endswith(".m3u8"))
    playlist = fetch(master_url.rsplit("/", 1)[0] + "/" + variant).text
    assert "#EXT-X-ENDLIST" in playlist
    segment = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
    assert segment.startswith(store) and len(fetch(segment).content) > 0


def test_neither_host_kept_a_file_on_its_own_disk(hosts):
    """Runs last: after all of the above, every file lives in the bucket only."""
    _, _, folders = hosts
    for var in folders:
        assert not (var / "storage").exists(), f"files were written under {var}"
        leftovers = [p for p in var.glob("work/**/*") if p.is_file()]
        assert leftovers == [], f"scratch files left behind: {leftovers}"
