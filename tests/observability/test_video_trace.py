"""A video upload is one trace: `completeUpload` in the API, the pipeline job and every
step in the media worker, each step's enqueue a child of the one before it."""

from __future__ import annotations

import httpx
import pytest

from lms.content.steps import PIPELINE_KIND, STEPS
from lms.users.models import Role
from tests.content.conftest import PLAYER_ORIGIN, clip, make_course, upload_video
from tests.observability.otlp_server import OtlpServer
from tests.observability.test_metrics import samples
from tests.support import LMS, GraphQLClient, Process, create_user, free_port, start_worker


@pytest.fixture
def collector():
    server = OtlpServer()
    yield server
    server.close()


def test_complete_upload_yields_one_trace_through_every_pipeline_step(collector, tmp_path):
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
        asset = upload_video(client, token, lesson_id, video)
        kinds = [PIPELINE_KIND, *(step.kind for step in STEPS)]

        def whole_trace(spans):
            [root] = [s for s in spans if s.name.endswith("completeUpload")] or [None]
            mine = [s for s in spans if root and s.trace_id == root.trace_id]
            names = {s.name for s in mine}
            return all(f"job {kind}" in names for kind in kinds) and (root, mine)

        root, spans = collector.wait_until(whole_trace, timeout=120)
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
    # The media worker's transcode, added into the API's /metrics from the metrics folder.
    media = ("lms_media_transcoded_seconds_total", ())
    cpu = ("lms_media_transcode_cpu_seconds_total", ())
    assert after[media] - before.get(media, 0) == pytest.approx(4, abs=0.5)
    assert after[cpu] > before.get(cpu, 0)
