"""`videoProcessingUpdated`: the uploader watches processing live over websocket (gql client,
graphql-transport-ws) while a real `media` worker process runs the pipeline."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from lms.courses.models import CourseInstructor, InstructorRole
from lms.db import session_scope
from lms.users.models import Role
from tests.content.conftest import COMPLETE, UPLOAD, make_course, put
from tests.e2e.test_event_bus import wait_health
from tests.rabbitmq_node import RabbitNode
from tests.support import LMS, GraphQLClient, Process, create_user, free_port

pytestmark = pytest.mark.usefixtures("media_worker")

UPDATES = gql(
    """subscription($id: ID!) { videoProcessingUpdated(videoAssetId: $id) {
      videoAssetId status step stepStatus progress percent message errorCode errorMessage
      jobId at } }"""
)


def transport(api, token: str | None) -> WebsocketsTransport:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(
        url=api.ws_url, init_payload=payload, subprotocols=["graphql-transport-ws"]
    )


def register(api, token: str, lesson_id, path) -> dict:
    return api.data(
        UPLOAD,
        {
            "input": {
                "lessonId": str(lesson_id),
                "fileName": path.name,
                "contentType": "video/mp4",
                "sizeBytes": path.stat().st_size,
            }
        },
        token,
    )["generateUploadUrl"]


async def watch_until_done(stream, on_first=None) -> list[dict]:
    """Every update until READY or FAILED; `on_first` runs once the first (current) arrived."""
    updates: list[dict] = []
    async with asyncio.timeout(240):
        async for message in stream:
            updates.append(message["videoProcessingUpdated"])
            if len(updates) == 1 and on_first is not None:
                await asyncio.to_thread(on_first)
            if updates[-1]["status"] in ("READY", "FAILED"):
                return updates
    raise AssertionError("the stream ended before processing did")


async def test_uploader_sees_each_step_and_running_progress_until_ready(
    content_api, educator, media_files
):
    user, token = educator
    _, lesson_id = make_course(user.id)
    path = media_files["clip_720"]
    ticket = register(content_api, token, lesson_id, path)
    asset_id = ticket["videoAsset"]["id"]

    def upload_and_complete() -> None:
        put(ticket, path.read_bytes())
        content_api.data(COMPLETE, {"key": ticket["fileKey"]}, token)

    async with Client(transport=transport(content_api, token)) as session:
        stream = session.subscribe(UPDATES, variable_values={"id": asset_id})
        updates = await watch_until_done(stream, on_first=upload_and_complete)

    first, last = updates[0], updates[-1]
    # The current state comes at once: registered, waiting for the bytes.
    assert (first["videoAssetId"], first["status"], first["step"]) == (asset_id, "UPLOADING", None)
    assert first["percent"] == 0
    assert (last["status"], last["percent"], last["errorCode"]) == ("READY", 100, None)
    assert last["jobId"]
    steps = [u["step"] for u in updates if u["step"]]
    assert [s for i, s in enumerate(steps) if s not in steps[:i]] == [
        "validate",
        "transcode",
        "images",
        "finalize",
    ]
    running = [u for u in updates if u["step"] == "transcode" and u["stepStatus"] == "RUNNING"]
    assert running, "no live progress while transcoding"
    assert all(0 < u["percent"] < 100 for u in running)
    worker_ticks = [u["percent"] for u in updates if u["stepStatus"] == "RUNNING"]
    assert worker_ticks == sorted(worker_ticks)  # one worker at a time: progress only grows


async def test_a_broken_upload_reaches_the_uploader_as_failed_with_its_code(
    content_api, educator, media_files
):
    user, token = educator
    _, lesson_id = make_course(user.id)
    path = media_files["random"]
    ticket = register(content_api, token, lesson_id, path)
    put(ticket, path.read_bytes())
    content_api.data(COMPLETE, {"key": ticket["fileKey"]}, token)

    async with Client(transport=transport(content_api, token)) as session:
        stream = session.subscribe(UPDATES, variable_values={"id": ticket["videoAsset"]["id"]})
        updates = await watch_until_done(stream)
    assert updates[-1]["status"] == "FAILED"
    assert updates[-1]["errorCode"] == "INVALID_MEDIA"
    assert updates[-1]["step"] == "validate" and updates[-1]["stepStatus"] == "FAILED"
    assert "random.mp4" in updates[-1]["errorMessage"]


async def test_a_finished_video_answers_its_state_at_once(content_api, educator, media_files):
    user, token = educator
    _, lesson_id = make_course(user.id)
    path = media_files["clip_360"]
    ticket = register(content_api, token, lesson_id, path)
    put(ticket, path.read_bytes())
    content_api.data(COMPLETE, {"key": ticket["fileKey"]}, token)
    async with Client(transport=transport(content_api, token)) as session:
        stream = session.subscribe(UPDATES, variable_values={"id": ticket["videoAsset"]["id"]})
        await watch_until_done(stream)
    # A later visit (another tab) gets the end state first thing, without waiting.
    async with Client(transport=transport(content_api, token)) as session:
        async with asyncio.timeout(30):
            async for message in session.subscribe(
                UPDATES, variable_values={"id": ticket["videoAsset"]["id"]}
            ):
                update = message["videoProcessingUpdated"]
                break
    assert (update["status"], update["percent"], update["step"]) == ("READY", 100, "finalize")


async def first_update(api, token, asset_id) -> dict:
    async with Client(transport=transport(api, token)) as session:
        async with asyncio.timeout(30):
            async for message in session.subscribe(UPDATES, variable_values={"id": asset_id}):
                return message["videoProcessingUpdated"]
    raise AssertionError("no update")


async def test_instructors_and_admins_may_watch_others_may_not(content_api, educator, media_files):
    user, token = educator
    course_id, lesson_id = make_course(user.id)
    asset_id = register(content_api, token, lesson_id, media_files["clip_360"])["videoAsset"]["id"]
    co_instructor, co_token = create_user(Role.EDUCATOR)
    with session_scope() as session:
        session.add(
            CourseInstructor(
                course_id=course_id, user_id=co_instructor.id, role=InstructorRole.CO_INSTRUCTOR
            )
        )
    _, admin = create_user(Role.ADMIN)
    for allowed in (co_token, admin):
        assert (await first_update(content_api, allowed, asset_id))["status"] == "UPLOADING"

    _, stranger = create_user(Role.EDUCATOR)
    _, student = create_user(Role.STUDENT)
    unknown = "00000000-0000-4000-8000-000000000000"
    for who, target, code in (
        (stranger, asset_id, "FORBIDDEN"),
        (student, asset_id, "FORBIDDEN"),
        (None, asset_id, "UNAUTHENTICATED"),
        (token, unknown, "VIDEO_ASSET_NOT_FOUND"),
    ):
        with pytest.raises(TransportQueryError) as refused:
            await first_update(content_api, who, target)
        assert refused.value.errors[0]["extensions"]["code"] == code


@pytest.fixture
def private_broker():
    with RabbitNode() as node:
        yield node


async def test_after_a_broker_restart_the_stream_sends_the_state_it_missed(
    private_broker, media_files
):
    """An event lost while the bus was down is made up for by the current state."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"LMS_BROKER_URL": private_broker.url, "LMS_PUBLIC_URL": base_url}
    api_process = Process([*LMS, "serve", "--port", str(port)], env)
    api_process.wait_for("Running on")
    api = GraphQLClient(base_url)
    try:
        user, token = create_user(Role.EDUCATOR)
        _, lesson_id = make_course(user.id)
        path = media_files["clip_360"]
        ticket = register(api, token, lesson_id, path)
        put(ticket, path.read_bytes())
        async with (
            Client(transport=transport(api, token)) as session,
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        ):
            stream = session.subscribe(UPDATES, variable_values={"id": ticket["videoAsset"]["id"]})
            async with asyncio.timeout(30):
                first = (await stream.__anext__())["videoProcessingUpdated"]
            assert first["status"] == "UPLOADING"

            private_broker.stop()
            await wait_health(http, "degraded")
            # Completed while the bus is down: its event is lost, the database has the change.
            await asyncio.to_thread(api.data, COMPLETE, {"key": ticket["fileKey"]}, token)
            await asyncio.to_thread(private_broker.start)
            await wait_health(http, "ok")

            async with asyncio.timeout(60):
                recovered = (await stream.__anext__())["videoProcessingUpdated"]
            assert recovered["status"] == "PROCESSING" and recovered["jobId"]
    finally:
        api.close()
        api_process.stop()
