"""Resumable multipart uploads, as a front end sends a large video: on local storage (signed
chunked PUTs with `Content-Range`) and on moto's S3 server (presigned `UploadPart` URLs), with
a real API, a real `media` worker and real ffmpeg."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from sqlalchemy import update

from lms.config import get_settings
from lms.content import multipart
from lms.content.models import MultipartUpload
from lms.db import session_scope
from lms.models import utcnow
from lms.users.models import Role
from tests.content.conftest import Watcher, ffmpeg, make_course
from tests.s3_server import s3_server
from tests.support import LMS, GraphQLClient, Process, create_user, free_port, start_worker

PART = 5 * 1024 * 1024  # S3's smallest part
BUCKET = "lyceum-multipart-test"

START = """mutation($input: GenerateUploadUrlInput!) { startMultipartUpload(input: $input) {
  id fileKey status sizeBytes partSizeBytes partCount missingParts
  uploadedParts { partNumber sizeBytes }
  partTargets { partNumber offset sizeBytes url method headers }
  videoAsset { id status } } }"""
PARTS = """query($id: ID!, $numbers: [Int!]) {
  multipartUploadParts(uploadId: $id, partNumbers: $numbers) {
    id partCount missingParts uploadedParts { partNumber sizeBytes etag }
    partTargets { partNumber offset sizeBytes url method headers } } }"""
COMPLETE = """mutation($id: ID!) { completeMultipartUpload(uploadId: $id) {
  fileKey videoAsset { id status processingJobId } } }"""
ABORT = "mutation($id: ID!) { abortMultipartUpload(uploadId: $id) }"
ASSET = "query($id: ID!) { videoAsset(id: $id) { status durationSeconds sizeBytes } }"


@pytest.fixture(scope="module")
def big_video(tmp_path_factory) -> Path:
    """A real video over two parts long (lossless, so it is large for its few seconds)."""
    path = tmp_path_factory.mktemp("multipart") / "lecture-4k-master.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=7"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=7"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-movflags", "+faststart", str(path)),
    )
    assert 2 * PART < path.stat().st_size < 3 * PART
    return path


def _services(env: dict[str, str]):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**env, "LMS_PUBLIC_URL": base_url, "LMS_UPLOAD_PART_BYTES": str(PART)}
    api = Process([*LMS, "serve", "--port", str(port)], env)
    worker = start_worker("media,email", env=env, concurrency=2)
    api.wait_for("Running on")
    return api, worker, GraphQLClient(base_url)


@pytest.fixture(scope="module")
def s3_env():
    with s3_server(BUCKET) as env:
        yield env


@pytest.fixture(scope="module", params=["local", "s3"])
def backend(request):
    env = request.getfixturevalue("s3_env") if request.param == "s3" else {}
    api, worker, client = _services(env)
    yield request.param, client, env
    client.close()
    api.stop()
    worker.stop()


def start(api, token, lesson_id, path: Path, **extra) -> dict:
    variables = {
        "input": {
            "lessonId": str(lesson_id),
            "fileName": path.name,
            "contentType": "video/mp4",
            "sizeBytes": path.stat().st_size,
            **extra,
        }
    }
    return api.data(START, variables, token)["startMultipartUpload"]


def send(target: dict, data: bytes) -> httpx.Response:
    chunk = data[target["offset"] : target["offset"] + target["sizeBytes"]]
    return httpx.request(
        target["method"], target["url"], content=chunk, headers=target["headers"], timeout=60
    )


def send_and_drop(target: dict, data: bytes) -> None:
    """Half of a part, then the connection drops (as a laptop closing its lid)."""
    chunk = data[target["offset"] : target["offset"] + target["sizeBytes"]]

    def body():
        yield chunk[: len(chunk) // 2]
        raise ConnectionResetError("network gone")

    headers = {**target["headers"], "Content-Length": str(len(chunk))}
    with pytest.raises((ConnectionResetError, httpx.HTTPError)):
        httpx.request(target["method"], target["url"], content=body(), headers=headers, timeout=60)


def codes(api, query, variables, token) -> list[str]:
    return api.error_codes(query, variables, token)


def test_an_interrupted_upload_resumes_and_plays(backend, big_video):
    kind, api, _ = backend
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    data = big_video.read_bytes()
    upload = start(api, token, lesson_id, big_video)
    assert (upload["partCount"], upload["partSizeBytes"]) == (3, PART)
    assert upload["missingParts"] == [1, 2, 3] and upload["videoAsset"]["status"] == "UPLOADING"
    first, second, _ = upload["partTargets"]
    if kind == "s3":
        assert "X-Amz-Signature" in first["url"]  # straight to the store
    else:
        assert first["headers"]["Content-Range"] == f"bytes 0-{PART - 1}/{len(data)}"

    assert send(first, data).status_code in (200, 201)
    send_and_drop(second, data)

    # Back online: the client asks what arrived and finds only whole parts.
    state = api.data(PARTS, {"id": upload["id"]}, token)["multipartUploadParts"]
    assert [p["partNumber"] for p in state["uploadedParts"]] == [1]
    assert state["uploadedParts"][0]["sizeBytes"] == PART
    assert state["missingParts"] == [2, 3]
    assert codes(api, COMPLETE, {"id": upload["id"]}, token) == ["MULTIPART_PARTS_MISSING"]

    for target in state["partTargets"]:
        assert send(target, data).status_code in (200, 201)
    with Watcher() as watcher:
        done = api.data(COMPLETE, {"id": upload["id"]}, token)["completeMultipartUpload"]
        assert done["videoAsset"]["status"] == "PROCESSING"
        finished = watcher.wait(done["videoAsset"]["processingJobId"], timeout=180)
    assert finished["status"] == "SUCCEEDED", finished
    asset = api.data(ASSET, {"id": upload["videoAsset"]["id"]}, token)["videoAsset"]
    assert asset["status"] == "READY" and asset["sizeBytes"] == len(data)
    assert round(asset["durationSeconds"]) == 7
    # Finished: the upload takes no more calls.
    assert codes(api, PARTS, {"id": upload["id"]}, token) == ["MULTIPART_UPLOAD_CLOSED"]


def test_abort_drops_the_parts_and_the_registered_video(backend, big_video, s3_env):
    kind, api, _ = backend
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    data = big_video.read_bytes()
    upload = start(api, token, lesson_id, big_video)
    first = upload["partTargets"][0]
    assert send(first, data).status_code in (200, 201)

    assert api.data(ABORT, {"id": upload["id"]}, token) == {"abortMultipartUpload": True}
    assert codes(api, PARTS, {"id": upload["id"]}, token) == ["MULTIPART_UPLOAD_NOT_FOUND"]
    assert codes(api, ASSET, {"id": upload["videoAsset"]["id"]}, token) == ["VIDEO_ASSET_NOT_FOUND"]
    if kind == "s3":
        client = boto3.client(
            "s3",
            endpoint_url=s3_env["LMS_S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        open_uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        assert upload["fileKey"] not in [u["Key"] for u in open_uploads]
    else:
        late = send(upload["partTargets"][1], data)
        assert late.status_code == 404
        assert late.json()["errors"][0]["extensions"]["code"] == "MULTIPART_UPLOAD_NOT_FOUND"


def test_bad_part_numbers_ids_and_other_users(backend, big_video):
    kind, api, _ = backend
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    upload = start(api, token, lesson_id, big_video)
    for numbers in ([0], [4], [1, 99]):
        assert codes(api, PARTS, {"id": upload["id"], "numbers": numbers}, token) == [
            "PART_NUMBER_OUT_OF_RANGE"
        ]
    only = api.data(PARTS, {"id": upload["id"], "numbers": [3]}, token)["multipartUploadParts"]
    last = only["partTargets"]
    assert [(t["partNumber"], t["offset"], t["sizeBytes"]) for t in last] == [
        (3, 2 * PART, big_video.stat().st_size - 2 * PART)
    ]

    unknown = str(uuid.uuid4())
    for query in (PARTS, COMPLETE, ABORT):
        assert codes(api, query, {"id": unknown}, token) == ["MULTIPART_UPLOAD_NOT_FOUND"]
    _, stranger = create_user(Role.EDUCATOR)
    for query in (PARTS, COMPLETE, ABORT):
        assert codes(api, query, {"id": upload["id"]}, stranger) == ["FORBIDDEN"]

    # The limits of single uploads hold here too.
    too_big = {"sizeBytes": 11 * 1024**3}
    for extra, code in ((too_big, "FILE_TOO_LARGE"), ({"contentType": "text/html"}, None)):
        variables = {
            "input": {
                "lessonId": str(lesson_id),
                "fileName": "x.mp4",
                "contentType": "video/mp4",
                "sizeBytes": 1000,
                **extra,
            }
        }
        assert codes(api, START, variables, token) == [code or "UNSUPPORTED_CONTENT_TYPE"]

    if kind == "local":  # a chunk must be exactly one part
        target = dict(upload["partTargets"][0])
        total = big_video.stat().st_size
        target["headers"] = {**target["headers"], "Content-Range": f"bytes 100-199/{total}"}
        target["offset"], target["sizeBytes"] = 100, 100
        skewed = send(target, big_video.read_bytes())
        assert skewed.status_code == 416
        assert skewed.json()["errors"][0]["extensions"]["code"] == "PART_NUMBER_OUT_OF_RANGE"
        state = api.data(PARTS, {"id": upload["id"]}, token)["multipartUploadParts"]
        assert state["uploadedParts"] == []


def test_the_scheduled_cleanup_aborts_abandoned_uploads(backend, big_video):
    _, api, env = backend
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    abandoned = start(api, token, lesson_id, big_video)
    fresh = start(api, token, lesson_id, big_video)
    with session_scope() as session:  # a day goes by for the first one
        session.execute(
            update(MultipartUpload)
            .where(MultipartUpload.id == uuid.UUID(abandoned["id"]))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    # What the beat entry `content.abort_abandoned_uploads` runs, against the API's storage.
    from tasks.app import app

    assert any(
        entry["task"] == "content.abort_abandoned_uploads"
        for entry in app.conf.beat_schedule.values()
    )
    settings = get_settings().model_copy(update=storage_settings(env))
    with session_scope() as session:
        assert multipart.abort_abandoned_uploads(session, settings) == 1
    assert codes(api, PARTS, {"id": abandoned["id"]}, token) == ["MULTIPART_UPLOAD_NOT_FOUND"]
    assert api.data(PARTS, {"id": fresh["id"]}, token)["multipartUploadParts"]["missingParts"]


def storage_settings(env: dict[str, str]) -> dict:
    """The backend's storage settings, as the API and worker read them from `env`."""
    names = ("storage_url", "s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key")
    return {name: env[f"LMS_{name.upper()}"] for name in names if f"LMS_{name.upper()}" in env}
