"""Content test fixtures: generated media (real ffmpeg), courses and lessons, an API and a
media worker per module, and helpers that upload the way a front end does."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.db import session_scope
from lms.users.models import Role
from tests.support import (
    LMS,
    GraphQLClient,
    JobWatcher,
    Process,
    create_user,
    free_port,
    start_worker,
)

PLAYER_ORIGIN = "http://player.test"


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=120,
    )


def clip(path: Path, *, size: str, seconds: float, audio: bool = True) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    ffmpeg(*args, str(path))
    return path


@pytest.fixture(scope="session")
def media_files(tmp_path_factory) -> dict[str, Path]:
    """Short generated clips plus the broken inputs a real upload form receives."""
    folder = tmp_path_factory.mktemp("content-media")
    files = {
        "clip_360": clip(folder / "lecture.mp4", size="640x360", seconds=4),
        "clip_720": clip(folder / "lecture-hd.mp4", size="1280x720", seconds=8),
        "too_short": clip(folder / "blink.mp4", size="320x180", seconds=0.5, audio=False),
    }
    (folder / "random.mp4").write_bytes(os.urandom(64 * 1024))
    (folder / "zero.mp4").write_bytes(b"")
    data = files["clip_360"].read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov at the end: gone
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=3",
        "-c:a",
        "aac",
        "-f",
        "mp4",
        str(folder / "podcast.mp4"),
    )
    files.update({name: folder / f"{name}.mp4" for name in ("random", "zero", "truncated")})
    files["audio_only"] = folder / "podcast.mp4"
    return files


def make_course(owner_id: uuid.UUID, *, free_preview: bool = False) -> tuple[uuid.UUID, uuid.UUID]:
    """A course taught by `owner_id` with one video lesson (the Courses module owns the API)."""
    with session_scope() as session:
        course = Course(
            slug=f"c-{uuid.uuid4().hex[:12]}", title="Signals and Systems", owner_id=owner_id
        )
        session.add(course)
        session.flush()
        session.add(
            CourseInstructor(course_id=course.id, user_id=owner_id, role=InstructorRole.OWNER)
        )
        module = CourseModule(course_id=course.id, title="Week 1", position=0)
        session.add(module)
        session.flush()
        lesson = Lesson(
            module_id=module.id,
            course_id=course.id,
            title="Fourier series",
            type=LessonType.VIDEO,
            position=0,
            is_free_preview=free_preview,
        )
        session.add(lesson)
        session.flush()
        return course.id, lesson.id


class Watcher(JobWatcher):
    """A JobWatcher that can also wait for the first event matching any condition."""

    def first(self, predicate, timeout: float = 60) -> dict:
        def found():
            return next(
                (e for events in self.events.values() for e in events if predicate(e)), None
            )

        with self._changed:
            self._changed.wait_for(lambda: found() is not None, timeout)
            event = found()
        assert event is not None, "no matching job event"
        return event


@pytest.fixture(scope="module")
def watcher():
    with Watcher() as watcher:
        yield watcher


@pytest.fixture(scope="module")
def content_api():
    """An API whose public URL is its own address (signed URLs point back at it)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = Process(
        [*LMS, "serve", "--port", str(port)],
        {"LMS_CORS_ORIGINS": f'["{PLAYER_ORIGIN}"]', "LMS_PUBLIC_URL": base_url},
    )
    process.wait_for("Running on")
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


@pytest.fixture(scope="module")
def media_worker():
    worker = start_worker("media,email", concurrency=2)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def educator():
    return create_user(Role.EDUCATOR)


UPLOAD = """mutation($input: GenerateUploadUrlInput!) { generateUploadUrl(input: $input) {
  uploadUrl method headers fileKey expiresAt maxBytes videoAsset { id status } } }"""
COMPLETE = """mutation($key: String!) { completeUpload(fileKey: $key) {
  videoAsset { id status processingJobId } fileAsset { id status } } }"""


def upload_video(
    api: GraphQLClient, token: str, lesson_id, path: Path, *, content_type: str = "video/mp4"
) -> dict:
    """What a front end does: ask for a URL, PUT the bytes, report completion."""
    ticket = api.data(
        UPLOAD,
        {
            "input": {
                "lessonId": str(lesson_id),
                "fileName": path.name,
                "contentType": content_type,
                "sizeBytes": path.stat().st_size,
            }
        },
        token,
    )["generateUploadUrl"]
    put(ticket, path.read_bytes())
    done = api.data(COMPLETE, {"key": ticket["fileKey"]}, token)["completeUpload"]["videoAsset"]
    return {**done, "fileKey": ticket["fileKey"], "uploadUrl": ticket["uploadUrl"]}


def put(ticket: dict, data: bytes) -> httpx.Response:
    response = httpx.request(
        ticket["method"], ticket["uploadUrl"], content=data, headers=ticket["headers"], timeout=60
    )
    assert response.status_code in (200, 201), response.text
    return response
