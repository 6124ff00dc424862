"""The same upload → process → stream flow on the S3 backend, against moto's standalone
S3 server over HTTP (boto3 in the API and the worker, presigned URLs for the client)."""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx
import pytest

from lms.storage.s3 import S3Storage
from lms.users.models import Role
from tests.content.conftest import Watcher, make_course, put, upload_video
from tests.s3_server import s3_server
from tests.support import LMS, GraphQLClient, Process, create_user, free_port, start_worker

BUCKET = "lyceum-content-test"
STREAM = """query($l: ID!, $f: StreamFormat) { generateStreamingUrl(lessonId: $l, format: $f) { url format } }"""


@pytest.fixture(scope="module")
def s3_env():
    with s3_server(BUCKET) as env:
        yield env


@pytest.fixture(scope="module")
def s3_services(s3_env):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = Process([*LMS, "serve", "--port", str(port)], {**s3_env, "LMS_PUBLIC_URL": base_url})
    worker = start_worker("media,email", env=s3_env, concurrency=2)
    api.wait_for("Running on")
    client = GraphQLClient(base_url)
    yield client
    client.close()
    api.stop()
    worker.stop()


def storage(env: dict, **kwargs) -> S3Storage:
    return S3Storage(
        BUCKET,
        endpoint_url=env["LMS_S3_ENDPOINT_URL"],
        access_key_id="testing",
        secret_access_key="testing",
        **kwargs,
    )


def test_s3_upload_process_and_stream(s3_services, s3_env, tmp_path_factory, media_files):
    api = s3_services
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    with Watcher() as watcher:
        asset = upload_video(api, token, lesson_id, media_files["clip_360"])
        assert asset["uploadUrl"].startswith(s3_env["LMS_S3_ENDPOINT_URL"])  # straight to the store
        finished = watcher.wait(asset["processingJobId"], timeout=90)
    assert finished["status"] == "SUCCEEDED", finished
    keys = storage(s3_env).list(f"videos/{asset['id']}/")
    assert any(k.endswith("/stream/master.m3u8") for k in keys) and any(
        k.endswith(".m4s") for k in keys
    )

    hls = api.data(STREAM, {"l": str(lesson_id)}, token)["generateStreamingUrl"]["url"]
    assert hls.startswith(api.base_url)  # playlists come through the API
    master = httpx.get(hls)
    assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text
    variant = next(line for line in master.text.splitlines() if line.endswith(".m3u8"))
    playlist = httpx.get(hls.rsplit("/", 1)[0] + "/" + variant).text
    segment = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
    assert segment.startswith(s3_env["LMS_S3_ENDPOINT_URL"]) and "X-Amz-Signature" in segment
    part = httpx.get(segment, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert {s["codec_type"] for s in _probe(hls)} == {"video", "audio"}

    dash = api.data(STREAM, {"l": str(lesson_id), "f": "DASH"}, token)["generateStreamingUrl"][
        "url"
    ]
    assert "<MPD" in httpx.get(dash).text
    init = httpx.get(dash.rsplit("/", 1)[0] + "/init-0.m4s", follow_redirects=False)
    assert init.status_code == 302 and "X-Amz-Signature" in init.headers["location"]
    assert httpx.get(init.headers["location"]).status_code == 200


def _probe(url: str) -> list[dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)["streams"]


def test_s3_multipart_upload_and_prefix_delete(s3_env, tmp_path):
    store = storage(s3_env, multipart_threshold=5 * 1024 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (6 * 1024 * 1024))  # above the threshold: two parts
    prefix = f"videos/{uuid.uuid4()}/1/"
    store.put_file(prefix + "source/original.mp4", big, content_type="video/mp4")
    head = store.client.head_object(Bucket=BUCKET, Key=prefix + "source/original.mp4")
    assert head["ContentLength"] == big.stat().st_size and head["ETag"].strip('"').endswith("-2")
    store.put_bytes(prefix + "stream/master.m3u8", b"#EXTM3U\n")
    assert store.delete_prefix(prefix) == 2 and store.list(prefix) == []


def test_s3_presigned_put_stores_the_clients_bytes(s3_env):
    store = storage(s3_env)
    from datetime import timedelta

    from lms.models import utcnow

    key = f"files/{uuid.uuid4()}/1/notes.pdf"
    target = store.upload_target(
        key,
        content_type="application/pdf",
        size_bytes=9,
        max_bytes=100,
        expires_at=utcnow() + timedelta(minutes=5),
    )
    assert target.method == "PUT" and "X-Amz-Signature" in target.url
    put(
        {"method": target.method, "uploadUrl": target.url, "headers": target.headers}, b"%PDF-1.4\n"
    )
    assert store.stat(key).size == 9 and store.read_bytes(key) == b"%PDF-1.4\n"
