"""The API's event hub on both transports: events published by another process reach only the
subscribers of their key (RabbitMQ routes by key; the filesystem transport fans out and the
hub dispatches by key), and `ANY` receives every key."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from lms.config import Settings, get_settings
from lms.events.topics import ANY, ENROLLMENT_PROGRESS, QUEUE_STATS
from tests.support import ROOT
from web.events import EventHub

PUBLISH = """
import json, sys
from lms.events.bus import publish_event
from lms.events.topics import TOPICS
for name, data in json.loads(sys.argv[1]):
    publish_event(TOPICS[name], data)
"""


@pytest.fixture(params=["rabbitmq", "filesystem"])
def settings(request, tmp_path) -> Settings:
    if request.param == "rabbitmq":
        return get_settings()
    return get_settings().model_copy(
        update={"broker_url": f"filesystem://{tmp_path / 'broker'}", "var_dir": tmp_path}
    )


def publish_from_another_process(settings: Settings, events: list[tuple[str, dict]]) -> None:
    env = {"LMS_BROKER_URL": settings.broker_url, "LMS_VAR_DIR": str(settings.var_dir)}
    subprocess.run(
        [sys.executable, "-c", PUBLISH, json.dumps(events)],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=60,
    )


def progress(enrollment_id: str, completed: int) -> tuple[str, dict]:
    return ENROLLMENT_PROGRESS.name, {"enrollmentId": enrollment_id, "completedLessons": completed}


async def test_subscribers_receive_only_their_key_and_any_receives_all(settings):
    hub = EventHub(settings)
    await hub.start()
    try:
        async with (
            hub.listen(ENROLLMENT_PROGRESS, "ada") as ada,
            hub.listen(ENROLLMENT_PROGRESS, ANY) as everyone,
            hub.listen(QUEUE_STATS, ANY) as stats,
        ):
            events = [progress("bob", 1), progress("ada", 2), (QUEUE_STATS.name, {"queues": []})]
            await asyncio.to_thread(publish_from_another_process, settings, events)
            async with asyncio.timeout(30):
                # Bob's event came first on the bus: had it reached Ada, she would see it first.
                first = await ada.get()
                assert (first["enrollmentId"], first["completedLessons"]) == ("ada", 2)
                seen = [(await everyone.get())["enrollmentId"] for _ in range(2)]
                assert seen == ["bob", "ada"]
                assert (await stats.get())["queues"] == []
            assert ada.empty()
    finally:
        await hub.stop()


def test_keys_are_single_routing_words():
    assert ENROLLMENT_PROGRESS.key_of({"enrollmentId": "a.b*#"}) == "a_b__"
    assert ENROLLMENT_PROGRESS.key_of({}) == "_"
    assert QUEUE_STATS.key_of({"at": "now"}) == "all"
