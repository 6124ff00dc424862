"""A video upload is one trace: `completeUpload` in the API, the pipeline job and every
step in the media worker (each step's enqueue a child of the one before it, each ffmpeg run
a child of its step), and the processing events back through the bus to the API that
serves the uploader's subscription."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from lms.content.steps import PIPELINE_KIND, STEPS
from lms.users.models import Role
from tests.content.conftest import COMPLETE, PLAYER_ORIGIN, UPLOAD, clip, make_course, put
from tests.observability.otlp_server import OtlpServer
from tests.observability.test_metrics import samples
from tests.support import LMS, GraphQLClient, Process, create_user, free_port, start_worker


UPDATES = gql(
    "subscription($id: ID!) { videoProcessingUpdated(videoAssetId: $id) { status step } }"
)
FFMPEG_RUNS = {"validate", "probe", "transcode", "poster", "storyboard", "preview"}
RECEIVED = "event content.processing received"


@pytest.fixture
def collector():
    server = OtlpServer()
    yield server
    server.close()


async def watch_until_done(client: GraphQLClient, token: str, ticket: dict) -> dict:
    """Subscribe to the asset's processing, then complete the upload; the asset once READY."""
    transport = WebsocketsTransport(
        url=client.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=["graphql-transport-ws"],
    )
    async with Client(transport=transport) as session:
        stream = session.subscribe(UPDATES, variable_values={"id": ticket["videoAsset"]["id"]})
        await anext(stream)  # the current state: the subscription is live
        done = await asyncio.to_thread(client.data, COMPLETE, {"key": ticket["fileKey"]}, token)
        async with asyncio.timeout(240):
            async for message in stream:
                if message["videoProcessingUpdated"]["status"] in ("READY", "FAILED"):
                    assert message["videoProcessingUpdated"]["status"] == "READY"
                    return done["completeUpload"]["videoAsset"]
    raise AssertionError("the subscription ended before processing did")


async def test_complete_upload_yields_one_trace_through_every_pipeline_step(collector, tmp_path):
    env = {"LMS_OTEL_ENDPOINT": collector.endpoint}
    video = clip(tmp_path / "lecture.mp4", size="640x360", seconds=4)
    user, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(user.id)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = Process(
        [*LMS, "serve", "--port", str(port)],
        {**env, "LMS_CORS_ORIGINS": f'["{PLAYER_ORIGIN}"]', "LMS_PUBLIC_URL": base_url},
    )
    worker = start_worker("media,email", env=env)
    client = GraphQLClient(base_url)
    try:
        api.wait_for("Running on")
        before = samples(httpx.get(f"{base_url}/metrics", timeout=60).text)
        ticket = client.data(
            UPLOAD,
            {"input": {"lessonId": str(lesson_id), "fileName": video.name,
                       "contentType": "video/mp4", "sizeBytes": video.stat().st_size}},
            token,
        )["generateUploadUrl"]  # fmt: skip
        put(ticket, video.read_bytes())
        asset = await watch_until_done(client, token, ticket)
        kinds = [PIPELINE_KIND, *(step.kind for step in STEPS)]

        def whole_trace(spans):
            [root] = [s for s in spans if s.name.endswith("completeUpload")] or [None]
            mine = [s for s in spans if root and s.trace_id == root.trace_id]
            names = {s.name for s in mine}
            jobs = all(f"job {kind}" in names for kind in kinds)
            return jobs and RECEIVED in names and (root, mine)

        root, spans = await asyncio.to_thread(collector.wait_until, whole_trace, 120)
        after = samples(httpx.get(f"{base_url}/metrics", timeout=60).text)
    finally:
        client.close()
        api.stop()
        worker.stop()
    by_id = {span.span_id: span for span in spans}
    assert root.parent_id == "" and root.component == "api"
    for kind in kinds:  # each job span hangs under its enqueue span, all in one tree
        [job] = [s for s in spans if s.name == f"job {kind}"]
        assert by_id[job.parent_id].name == f"enqueue {kind}"
        assert job.component == "worker"
    assert {s.attributes.get("lms.job_id") for s in spans if s.name == f"job {PIPELINE_KIND}"} == {
        asset["processingJobId"]
    }
    runs = [s for s in spans if s.name.startswith("ffmpeg ")]
    assert {s.name.removeprefix("ffmpeg ") for s in runs} == FFMPEG_RUNS
    assert all(by_id[s.parent_id].name.startswith("job media.") for s in runs)
    # The events the worker sent within the trace reach the API serving the subscription.
    received = [s for s in spans if s.name == RECEIVED]
    assert all(s.component == "api" for s in received)
    senders = [by_id[s.parent_id] for s in received]
    assert {(s.name, s.component) for s in senders} == {("event content.processing", "worker")}
    # The media worker's transcode, added into the API's /metrics from the metrics folder.
    media = ("lms_media_transcoded_seconds_total", ())
    cpu = ("lms_media_transcode_cpu_seconds_total", ())
    assert after[media] - before.get(media, 0) == pytest.approx(4, abs=0.5)
    assert after[cpu] > before.get(cpu, 0)
