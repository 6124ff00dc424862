"""Upload → process → stream, on local storage, through GraphQL and a real `media` worker."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat
from sqlalchemy import select

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.models import Job
from lms.notifications.models import Notification, NotificationChannel, NotificationDelivery
from lms.storage import local_root
from lms.storage.signing import GET_PURPOSE, sign
from lms.users.models import Role
from tests.content.conftest import PLAYER_ORIGIN, make_course, put, upload_video
from tests.support import create_user

pytestmark = pytest.mark.usefixtures("media_worker")

STATUS = """query($id: ID!) { videoProcessingStatus(videoAssetId: $id) {
  status errorCode errorMessage progress jobId jobStatus
  steps { name status progress attempts errorCode jobId } } }"""
ASSET = """query($id: ID!) { videoAsset(id: $id) {
  id status errorCode errorMessage durationSeconds width height lessonId
  renditions { name kind width height bitrate peakBitrate codecs sizeBytes }
  posterUrl thumbnailUrl storyboardUrl previewUrl } }"""
STREAM = """query($lesson: ID!, $resolution: StreamResolution, $format: StreamFormat) {
  generateStreamingUrl(lessonId: $lesson, resolution: $resolution, format: $format) {
    url format resolution expiresAt videoAssetId durationSeconds posterUrl } }"""
CANCEL = (
    "mutation($id: ID!) { cancelProcessingJob(id: $id) { status jobStatus steps { name status } } }"
)
RETRY = "mutation($id: ID!) { retryProcessingJob(id: $id) { status jobStatus } }"


def ffprobe_streams(url: str) -> list[dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)["streams"]


def outbox_emails(to: str) -> list[str]:
    folder = Path(get_settings().email_url.removeprefix("outbox:"))
    return [p.read_text() for p in folder.glob("*.eml") if to in p.read_text()]


def uploader_notification(asset_id) -> Notification:
    with session_scope() as session:
        return session.scalars(
            select(Notification).where(Notification.data["assetId"].as_string() == str(asset_id))
        ).one()


def email_job(asset_id) -> Job:
    """The job that emails the uploader: the email delivery of their notification."""
    notification = uploader_notification(asset_id)
    with session_scope() as session:
        delivery = session.scalars(
            select(NotificationDelivery).where(
                NotificationDelivery.notification_id == notification.id,
                NotificationDelivery.channel == NotificationChannel.EMAIL,
            )
        ).one()
        return session.get(Job, delivery.job_id)


@pytest.fixture(scope="module")
def ready_video(media_worker, content_api, educator, media_files, watcher):
    """A 4 s 640x360 lecture uploaded to a free-preview lesson and processed to READY."""
    user, token = educator
    course_id, lesson_id = make_course(user.id, free_preview=True)
    asset = upload_video(content_api, token, lesson_id, media_files["clip_360"])
    assert asset["status"] == "PROCESSING"
    finished = watcher.wait(asset["processingJobId"], timeout=90)
    assert finished["status"] == "SUCCEEDED", finished
    return {**asset, "lesson_id": lesson_id, "course_id": course_id}


def test_processed_video_reports_every_step_and_its_outputs(content_api, educator, ready_video):
    _, token = educator
    status = content_api.data(STATUS, {"id": ready_video["id"]}, token)["videoProcessingStatus"]
    assert (status["status"], status["jobStatus"], status["progress"]) == (
        "READY",
        "SUCCEEDED",
        1.0,
    )
    assert [(s["name"], s["status"]) for s in status["steps"]] == [
        ("validate", "SUCCEEDED"),
        ("transcode", "SUCCEEDED"),
        ("images", "SUCCEEDED"),
        ("finalize", "SUCCEEDED"),
    ]

    asset = content_api.data(ASSET, {"id": ready_video["id"]}, token)["videoAsset"]
    assert asset["status"] == "READY" and asset["errorCode"] is None
    assert 3.5 < asset["durationSeconds"] < 4.5 and (asset["width"], asset["height"]) == (640, 360)
    video = [r for r in asset["renditions"] if r["kind"] == "video"]
    assert [(r["name"], r["width"], r["height"]) for r in video] == [
        ("360p", 640, 360)
    ]  # never upscaled
    assert (
        video[0]["codecs"].startswith("avc1.")
        and video[0]["bitrate"] > 0
        and video[0]["sizeBytes"] > 0
    )
    assert any(r["kind"] == "audio" and r["codecs"].startswith("mp4a") for r in asset["renditions"])

    poster = httpx.get(asset["posterUrl"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert httpx.get(asset["thumbnailUrl"]).content[:3] == b"\xff\xd8\xff"
    vtt = httpx.get(asset["storyboardUrl"])
    assert vtt.text.startswith("WEBVTT") and "#xywh=" in vtt.text
    sprite = vtt.text.split("\n")[3].split("#")[0]  # relative to the VTT, under the same signature
    assert httpx.get(asset["storyboardUrl"].rsplit("/", 1)[0] + "/" + sprite).status_code == 200
    preview = [s for s in ffprobe_streams(asset["previewUrl"]) if s["codec_type"] == "video"]
    assert preview and int(preview[0]["width"]) <= 640


def test_images_cover_the_video_and_small_ones_come_from_the_rendition(
    content_api, educator, ready_video
):
    _, token = educator
    asset = content_api.data(ASSET, {"id": ready_video["id"]}, token)["videoAsset"]
    with Image.open(io.BytesIO(httpx.get(asset["posterUrl"]).content)) as poster:
        assert poster.size == (640, 360)  # the source's own resolution
        assert ImageStat.Stat(poster.convert("L")).mean[0] > 20  # not a black frame
    cues = re.findall(
        r"(\d+):(\d+):([\d.]+) --> (\d+):(\d+):([\d.]+)", httpx.get(asset["storyboardUrl"]).text
    )
    ends = [int(h) * 3600 + int(m) * 60 + float(s) for *_, h, m, s in cues]
    assert cues and cues[0][:3] == ("00", "00", "00.000")
    assert abs(ends[-1] - asset["durationSeconds"]) < 0.05  # seeking previews up to the end
    preview = json.loads(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration:stream=width,codec_type",
                "-of",
                "json",
                asset["previewUrl"],
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert float(preview["format"]["duration"]) <= 10
    assert [int(s["width"]) for s in preview["streams"] if s["codec_type"] == "video"] == [640]
    status = content_api.data(STATUS, {"id": ready_video["id"]}, token)["videoProcessingStatus"]
    images_job = next(s["jobId"] for s in status["steps"] if s["name"] == "images")
    with session_scope() as session:  # the storyboard and preview did not decode the source again
        assert session.get(Job, uuid.UUID(images_job)).result["frames_from"] == "360p"


def test_uploader_is_emailed_when_the_video_is_ready(educator, ready_video, watcher):
    user, _ = educator
    job = email_job(ready_video["id"])
    assert uploader_notification(ready_video["id"]).data["emailTemplate"] == "video_ready"
    watcher.wait(job.id)
    assert any("is ready" in text for text in outbox_emails(user.email))


def test_student_streams_hls_with_range_requests_and_cors(content_api, ready_video):
    _, student_token = create_user(Role.STUDENT)
    stream = content_api.data(STREAM, {"lesson": str(ready_video["lesson_id"])}, student_token)[
        "generateStreamingUrl"
    ]
    assert stream["format"] == "HLS" and stream["url"].endswith("/master.m3u8")

    master = httpx.get(stream["url"], headers={"Origin": PLAYER_ORIGIN})
    assert master.status_code == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["access-control-allow-origin"] == PLAYER_ORIGIN
    assert "Content-Range" in master.headers["access-control-expose-headers"]
    inf = next(line for line in master.text.splitlines() if line.startswith("#EXT-X-STREAM-INF"))
    assert "BANDWIDTH=" in inf and "RESOLUTION=640x360" in inf and 'CODECS="avc1.' in inf
    base = stream["url"].rsplit("/", 1)[0]
    variant = next(line for line in master.text.splitlines() if line and not line.startswith("#"))
    playlist = httpx.get(f"{base}/{variant}").text
    assert "#EXT-X-ENDLIST" in playlist and "#EXT-X-PLAYLIST-TYPE:VOD" in playlist
    segment = next(line for line in playlist.splitlines() if line and not line.startswith("#"))

    whole = httpx.get(f"{base}/{segment}")
    part = httpx.get(
        f"{base}/{segment}", headers={"Range": "bytes=100-199", "Origin": PLAYER_ORIGIN}
    )
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert (
        httpx.get(
            f"{base}/{segment}", headers={"Range": f"bytes={len(whole.content)}-"}
        ).status_code
        == 416
    )

    preflight = httpx.options(
        f"{base}/{segment}",
        headers={
            "Origin": PLAYER_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == PLAYER_ORIGIN
    assert "Range" in preflight.headers["access-control-allow-headers"]

    kinds = sorted(s["codec_type"] for s in ffprobe_streams(stream["url"]))
    assert kinds == ["audio", "video"]


def test_dash_manifest_and_single_renditions_play(content_api, educator, ready_video):
    _, token = educator
    lesson = str(ready_video["lesson_id"])
    dash = content_api.data(STREAM, {"lesson": lesson, "format": "DASH"}, token)[
        "generateStreamingUrl"
    ]
    mpd = httpx.get(dash["url"])
    assert mpd.headers["content-type"] == "application/dash+xml" and "<MPD" in mpd.text
    assert {s["codec_type"] for s in ffprobe_streams(dash["url"])} == {"video", "audio"}

    one = content_api.data(STREAM, {"lesson": lesson, "resolution": "P360"}, token)[
        "generateStreamingUrl"
    ]
    assert one["resolution"] == "360p"
    assert [
        int(s["height"]) for s in ffprobe_streams(one["url"]) if s["codec_type"] == "video"
    ] == [360]
    codes = content_api.error_codes(STREAM, {"lesson": lesson, "resolution": "P1080"}, token)
    assert codes == ["RESOLUTION_NOT_AVAILABLE"]
    assert content_api.error_codes(STREAM, {"lesson": lesson, "format": "flv"}, token) == [
        "GRAPHQL_VALIDATION_FAILED"  # not one of the StreamFormat enum's values
    ]


def test_altered_or_expired_stream_urls_are_refused(content_api, educator, ready_video):
    _, token = educator
    url = content_api.data(STREAM, {"lesson": str(ready_video["lesson_id"])}, token)[
        "generateStreamingUrl"
    ]["url"]
    prefix, expires, signature, key = (
        url.split("/storage/s/")[0],
        *url.split("/storage/s/")[1].split("/", 2),
    )
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    bad = httpx.get(f"{prefix}/storage/s/{expires}/{tampered}/{key}")
    assert (
        bad.status_code == 403
        and bad.json()["errors"][0]["extensions"]["code"] == "SIGNATURE_INVALID"
    )
    other_video = key.replace(str(ready_video["id"]), str(uuid.uuid4()))
    assert httpx.get(f"{prefix}/storage/s/{expires}/{signature}/{other_video}").status_code == 403

    past = int(time.time()) - 60
    scope = "/".join(key.split("/")[:3]) + "/"
    old = sign(scope, past, purpose=GET_PURPOSE, settings=get_settings())
    gone = httpx.get(f"{prefix}/storage/s/{past}/{old}/{key}")
    assert (
        gone.status_code == 403 and gone.json()["errors"][0]["extensions"]["code"] == "LINK_EXPIRED"
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("random", "INVALID_MEDIA"),
        ("truncated", "INVALID_MEDIA"),
        ("zero", "INVALID_MEDIA"),
        ("audio_only", "NO_VIDEO_STREAM"),
        ("too_short", "TOO_SHORT"),
    ],
)
def test_broken_upload_fails_fast_with_its_code(
    content_api, educator, media_files, watcher, name, code
):
    user, token = educator
    _, lesson_id = make_course(user.id)
    asset = upload_video(content_api, token, lesson_id, media_files[name])
    assert watcher.wait(asset["processingJobId"], timeout=60)["status"] == "FAILED"

    shown = content_api.data(ASSET, {"id": asset["id"]}, token)["videoAsset"]
    assert (shown["status"], shown["errorCode"]) == ("FAILED", code) and shown["errorMessage"]
    # the message names the file the educator uploaded, not the worker's copy
    assert media_files[name].name in shown["errorMessage"], shown["errorMessage"]
    assert "source" not in shown["errorMessage"]
    status = content_api.data(STATUS, {"id": asset["id"]}, token)["videoProcessingStatus"]
    assert status["steps"][0]["name"] == "validate"
    assert (status["steps"][0]["status"], status["steps"][0]["errorCode"]) == ("FAILED", code)
    assert [s["status"] for s in status["steps"][1:]] == ["PENDING"] * 3
    assert uploader_notification(asset["id"]).data["emailContext"]["error_code"] == code


def _ffmpeg_running_for(asset_id: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"ffmpeg") and any(asset_id.encode() in a for a in args):
            return True
    return False


def test_cancel_during_transcode_then_retry_resumes_there(
    content_api, educator, media_files, watcher
):
    user, token = educator
    _, lesson_id = make_course(user.id)
    asset = upload_video(content_api, token, lesson_id, media_files["clip_720"])
    transcoding = watcher.first(
        lambda e: (
            e["kind"] == "media.transcode"
            and e["subjectId"] == asset["id"]
            and e["status"] == "RUNNING"
            and e["progress"] > 0
        )
    )

    status = content_api.data(CANCEL, {"id": asset["processingJobId"]}, token)[
        "cancelProcessingJob"
    ]
    assert status["status"] in ("PROCESSING", "FAILED")
    assert watcher.wait(asset["processingJobId"], timeout=30)["status"] == "CANCELLED"
    assert watcher.wait(transcoding["jobId"], timeout=30)["status"] == "CANCELLED"
    assert not _ffmpeg_running_for(asset["id"])
    shown = content_api.data(ASSET, {"id": asset["id"]}, token)["videoAsset"]
    assert (shown["status"], shown["errorCode"]) == ("FAILED", "CANCELLED")

    assert (
        content_api.data(RETRY, {"id": asset["id"]}, token)["retryProcessingJob"]["status"]
        == "PROCESSING"
    )
    assert (
        watcher.wait(asset["processingJobId"], ("SUCCEEDED", "FAILED"), timeout=90)["status"]
        == "SUCCEEDED"
    )
    steps = {
        s["name"]: s
        for s in content_api.data(STATUS, {"id": asset["id"]}, token)["videoProcessingStatus"][
            "steps"
        ]
    }
    assert steps["validate"]["attempts"] == 1  # not run again: the retry resumed at the transcode
    assert (
        steps["transcode"]["attempts"] == 2 and steps["transcode"]["jobId"] == transcoding["jobId"]
    )

    for height in (720, 480, 360):
        url = content_api.data(
            STREAM, {"lesson": str(lesson_id), "resolution": f"P{height}"}, token
        )["generateStreamingUrl"]["url"]
        assert [int(s["height"]) for s in ffprobe_streams(url) if s["codec_type"] == "video"] == [
            height
        ]
    master_url = content_api.data(STREAM, {"lesson": str(lesson_id)}, token)[
        "generateStreamingUrl"
    ]["url"]
    base = master_url.rsplit("/", 1)[0]
    playlists = [line for line in httpx.get(master_url).text.splitlines() if line.endswith(".m3u8")]
    durations = []
    for name in playlists:
        text = httpx.get(f"{base}/{name}").text
        durations.append(
            [
                float(line[8:].split(",")[0])
                for line in text.splitlines()
                if line.startswith("#EXTINF:")
            ]
        )
    video = durations[:3]
    assert video[0] == video[1] == video[2]  # same segment boundaries on every rung
    assert all(abs(d - 4.0) < 0.05 for d in video[0][:-1])


def test_wrong_type_or_oversized_put_is_refused(content_api, educator):
    user, token = educator
    _, lesson_id = make_course(user.id)
    ticket = content_api.data(
        """mutation($input: GenerateUploadUrlInput!) { generateUploadUrl(input: $input) {
        uploadUrl method headers fileKey } }""",
        {
            "input": {
                "lessonId": str(lesson_id),
                "fileName": "a.mp4",
                "contentType": "video/mp4",
                "sizeBytes": 10,
            }
        },
        token,
    )["generateUploadUrl"]
    wrong = httpx.put(ticket["uploadUrl"], content=b"x" * 10, headers={"Content-Type": "text/html"})
    assert wrong.status_code == 415
    bigger_cap = ticket["uploadUrl"].replace("max=", "max=9")
    assert httpx.put(bigger_cap, content=b"x", headers=ticket["headers"]).status_code == 403
    assert content_api.error_codes(
        "mutation($k: String!) { completeUpload(fileKey: $k) { fileKey } }",
        {"k": ticket["fileKey"]},
        token,
    ) == ["UPLOAD_MISSING"]


RESOURCE = """mutation($input: UploadCourseResourceInput!) { uploadCourseResource(input: $input) {
  uploadUrl method headers fileKey fileAsset { id status } } }"""
FILE = """query($id: ID!) { fileAsset(id: $id) {
  status errorCode detectedType sizeBytes downloadUrl thumbnailUrl } }"""


def _resource(api, token, course_id, name: str, content_type: str, data: bytes, watcher) -> dict:
    ticket = api.data(
        RESOURCE,
        {
            "input": {
                "courseId": str(course_id),
                "fileName": name,
                "contentType": content_type,
                "sizeBytes": len(data),
            }
        },
        token,
    )["uploadCourseResource"]
    put(ticket, data)
    api.data(
        "mutation($k: String!) { completeUpload(fileKey: $k) { fileKey } }",
        {"k": ticket["fileKey"]},
        token,
    )
    asset_id = ticket["fileAsset"]["id"]
    with session_scope() as session:
        job_id = session.scalars(
            select(Job.id).where(Job.kind == "media.resource_check", Job.subject_id == asset_id)
        ).one()
    watcher.wait(job_id)
    return {"id": asset_id, **api.data(FILE, {"id": asset_id}, token)["fileAsset"]}


def test_course_resources_are_checked_by_content(
    content_api, educator, media_files, watcher, tmp_path
):
    user, token = educator
    course_id, _ = make_course(user.id)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    ok = _resource(content_api, token, course_id, "syllabus.pdf", "application/pdf", pdf, watcher)
    assert (ok["status"], ok["detectedType"]) == ("READY", "application/pdf")
    assert httpx.get(ok["downloadUrl"]).content == pdf

    from PIL import Image

    Image.new("RGB", (800, 600), (30, 120, 200)).save(tmp_path / "diagram.png")
    image = _resource(
        content_api,
        token,
        course_id,
        "diagram.png",
        "image/png",
        (tmp_path / "diagram.png").read_bytes(),
        watcher,
    )
    assert image["status"] == "READY" and httpx.get(image["thumbnailUrl"]).status_code == 200

    fake = _resource(
        content_api,
        token,
        course_id,
        "notes.pdf",
        "application/pdf",
        media_files["random"].read_bytes(),
        watcher,
    )
    assert (fake["status"], fake["errorCode"]) == ("FAILED", "UNSUPPORTED_FILE_TYPE")

    mine = content_api.data(
        """query($f: FileAssetFilter) { myFileAssets(filter: $f) {
        totalCount edges { node { id status } } } }""",
        {"f": {"courseId": str(course_id)}},
        token,
    )["myFileAssets"]
    assert mine["totalCount"] == 3 and {e["node"]["id"] for e in mine["edges"]} == {
        ok["id"],
        image["id"],
        fake["id"],
    }

    assert (
        content_api.data(
            "mutation($k: String!) { deleteContent(fileKey: $k) }",
            {"k": f"files/{ok['id']}/1/syllabus.pdf"},
            token,
        )["deleteContent"]
        is True
    )
    assert content_api.error_codes(FILE, {"id": ok["id"]}, token) == ["FILE_ASSET_NOT_FOUND"]


def test_deleting_a_video_removes_its_files(content_api, educator, ready_video, watcher):
    _, token = educator
    folder = local_root(get_settings()) / "videos" / ready_video["id"]
    assert any(folder.rglob("*.m4s"))
    assert (
        content_api.data(
            "mutation($id: ID!) { deleteVideoAsset(id: $id) }", {"id": ready_video["id"]}, token
        )["deleteVideoAsset"]
        is True
    )
    with session_scope() as session:
        purge = session.scalars(
            select(Job.id).where(
                Job.kind == "media.purge", Job.subject_id == f"videos/{ready_video['id']}/"
            )
        ).one()
    assert watcher.wait(purge)["status"] == "SUCCEEDED"
    assert not folder.exists()
    assert content_api.error_codes(ASSET, {"id": ready_video["id"]}, token) == [
        "VIDEO_ASSET_NOT_FOUND"
    ]
