"""Several API processes on one port (`lms serve --processes 2`), as a host with a core per
process runs it: a process that is busy or stuck takes no new connection, one that dies is
replaced while the other answers, and `/metrics` counts every process's requests whichever
of them answers the scrape."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.support import LMS, ROOT, start_api

COURSE = 'query { course(id: "%s") { id } }'
REDIS = {
    "LMS_REDIS_URL": "redis://127.0.0.1:6379/0",
    "LMS_RATE_LIMIT_PREFIX": f"lms:test:{uuid.uuid4().hex[:8]}:",
}


@pytest.fixture(scope="module")
def api():
    process, base_url = start_api(env=REDIS, processes=2)
    yield process, base_url
    process.stop()


def children(pid: int) -> list[int]:
    text = open(f"/proc/{pid}/task/{pid}/children").read()
    return [int(child) for child in text.split()]


def ask_on_a_new_connection(base_url: str) -> httpx.Response:
    # A connection of its own each time: a kept one belongs to the process that accepted it.
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return client.post("/graphql", json={"query": COURSE % uuid.uuid4()})


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The process frozen (SIGSTOP), as one stuck in a long request: it accepts nothing."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def operations(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    counted = re.findall(
        r'^lms_graphql_operations_total\{operation="course",[^}]*\} (\S+)$', text, re.MULTILINE
    )
    return sum(float(value) for value in counted)


def test_each_process_answers_while_the_other_is_stuck(api):
    process, base_url = api
    first, second = children(process.popen.pid)
    before = operations(base_url)
    with stopped(first):
        answered_by_second = [ask_on_a_new_connection(base_url) for _ in range(10)]
    with stopped(second):
        answered_by_first = [ask_on_a_new_connection(base_url) for _ in range(10)]
    for response in answered_by_second + answered_by_first:
        assert response.status_code == 200
        assert response.json()["data"] == {"course": None}
    # Every scrape, whichever process answers it, counts the requests of both.
    assert {operations(base_url) - before for _ in range(6)} == {20.0}


def test_a_process_that_dies_is_replaced_while_the_other_answers(api):
    process, base_url = api
    victim, survivor = children(process.popen.pid)
    os.kill(victim, signal.SIGKILL)
    # Asked before the replacement runs: the survivor answers.
    assert ask_on_a_new_connection(base_url).status_code == 200
    process.wait_for("restarted")
    process.wait_for("Running on", times=3)  # two at the start, then the replacement
    replacement = (set(children(process.popen.pid)) - {survivor}).pop()
    with stopped(survivor):
        assert ask_on_a_new_connection(base_url).status_code == 200  # the replacement's answer
    assert replacement != victim


def test_stopping_the_api_stops_every_process(api):
    """Last in this file: it ends the module's API (one start of processes fewer)."""
    process, _ = api
    pids = children(process.popen.pid)
    watches = [os.pidfd_open(pid) for pid in pids]
    try:
        process.stop()
        assert process.popen.returncode == 0
        poller = select.poll()
        for watch in watches:
            poller.register(watch, select.POLLIN)  # readable once the process has ended
        assert len(poller.poll(0)) == len(watches) == 2  # ended before the parent did
    finally:
        for watch in watches:
            os.close(watch)


def serve(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "LMS_REDIS_URL"}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [*LMS, "serve", *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_more_than_one_process_without_redis_is_refused():
    refused = serve("--processes", "2")
    assert refused.returncode == 2
    assert "needs LMS_REDIS_URL" in refused.stderr
    # The setting is checked the same way, for every command that reads the settings.
    refused = serve(LMS_API_PROCESSES="2")
    assert refused.returncode == 2
    assert "LMS_API_PROCESSES above 1 needs LMS_REDIS_URL" in refused.stderr
