"""Workers coming and going: no worker answering is a state (not a hang), a killed worker is
reported gone and alerted, history survives an API restart, and the embedded default
(SQLite + filesystem broker) shows the same dashboard."""

from __future__ import annotations

import os
import sys

import httpx
import pytest

from lms.admin import alerts
from lms.config import DEV_SECRET, load_settings
from lms.db import session_scope
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.admin.helpers import CLEAR_ALERTS, DASHBOARD, HISTORY, enqueue_job, reset_queue_states
from tests.support import (
    GraphQLClient,
    JobWatcher,
    Process,
    create_user,
    free_port,
    start_api,
    start_worker,
)


@pytest.fixture(scope="module")
def admin():
    reset_queue_states()
    return create_user(Role.ADMIN)


def test_no_worker_answering_is_reported_without_hanging(api, admin):
    _, token = admin
    board = api.data(DASHBOARD, token=token)["jobDashboard"]
    assert board["workersAnswering"] is False
    assert board["inspectionError"].startswith("no worker answered within")
    assert board["health"] == "ERROR"
    assert not [w for w in board["workers"] if w["state"] == "ONLINE"]


def test_a_killed_worker_is_reported_gone_and_alerted(api, admin):
    _, token = admin
    api.data(CLEAR_ALERTS, {"q": None}, token)  # forget workers of earlier modules
    worker = start_worker("email")
    try:
        board = api.data(DASHBOARD, token=token)["jobDashboard"]
        (online,) = [w for w in board["workers"] if w["state"] == "ONLINE"]
        alerts.evaluate()  # the scheduled evaluation records the workers it sees
    finally:
        worker.kill()
    raised = alerts.evaluate()
    # (Workers of earlier test modules that were stopped are gone as well.)
    gone = {a["target"]: a for a in raised if a["rule"] == "WORKER_GONE"}
    assert gone[online["hostname"]]["severity"] == "CRITICAL"
    board = api.data(DASHBOARD, token=token)["jobDashboard"]
    listed = {w["hostname"]: w for w in board["workers"]}
    assert listed[online["hostname"]]["state"] == "GONE" and listed[online["hostname"]][
        "queues"
    ] == ["email"]
    assert online["hostname"] in [
        a["target"] for a in board["alerts"] if a["rule"] == "WORKER_GONE"
    ]
    assert f'lms_worker_up{{worker="{online["hostname"]}"}} 0.0' in api.http.get("/metrics").text

    # Acknowledged: the alert is cleared and the worker forgotten.
    assert api.data(CLEAR_ALERTS, {"q": None}, token)["clearQueueAlerts"]["clearedCount"] >= 1
    board = api.data(DASHBOARD, token=token)["jobDashboard"]
    assert online["hostname"] not in {w["hostname"] for w in board["workers"]}
    assert not [a for a in board["alerts"] if a["rule"] == "WORKER_GONE"]


def test_history_survives_a_restart_of_the_api(admin):
    _, token = admin
    job_id = enqueue_job("system.noop")
    process, base_url = start_api()
    try:
        client = GraphQLClient(base_url)
        events = client.data(HISTORY, {"q": "default", "n": 50}, token)["jobEventHistory"]
        assert job_id in {e["jobId"] for e in events}
        client.close()
    finally:
        process.stop()


def test_the_embedded_default_shows_the_same_dashboard(tmp_path):
    port = free_port()
    env = {key: None for key in os.environ if key.startswith("LMS_")} | {"LMS_PORT": str(port)}
    up = Process([sys.executable, "-m", "lyceum.cli", "up"], env, cwd=tmp_path)
    try:
        up.wait_for("Running on")
        up.wait_for(" ready.")
        settings = load_settings(  # what `lms up` in a clean folder uses: no LMS_* at all
            var_dir=tmp_path / "var",
            database_url="",
            broker_url="",
            email_url="",
            storage_url="",
            secret_key=DEV_SECRET,
            env="development",
        )
        _, token = create_user(Role.ADMIN, settings)
        client = GraphQLClient(f"http://127.0.0.1:{port}")
        with JobWatcher(settings) as watcher:
            with session_scope(settings) as session:
                job_id = enqueue(session, "system.noop", settings=settings).id
            assert watcher.wait(job_id)["status"] == "SUCCEEDED"
        board = client.data(DASHBOARD, token=token)["jobDashboard"]
        assert board["workersAnswering"] is True
        (worker,) = [w for w in board["workers"] if w["state"] == "ONLINE"]
        assert "default" in worker["queues"] and "system.noop" in worker["registered"]
        default = next(q for q in board["queues"] if q["queueName"] == "default")
        # The filesystem broker counts its own messages; consumers come from the workers.
        assert default["stats"]["depth"] == 0 and default["stats"]["consumers"] == 1
        assert default["stats"]["succeeded"] == 1
        assert httpx.get(f"http://127.0.0.1:{port}/admin/queues", timeout=10).status_code == 200
        client.close()
    finally:
        up.stop()
