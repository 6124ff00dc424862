"""The job writer's bus events (`lms.jobs.writer`): events written while the writer was
busy go out as one group message whatever their jobs (`publish_event_group`), and each
listener still receives the events of the keys it bound, in order, one by one."""

from __future__ import annotations

import threading
import uuid

from kombu import Connection, Queue

from lms.config import get_settings
from lms.events.bus import KEYED_EXCHANGE, EventListener
from lms.events.topics import JOB
from lms.jobs import writer


def event(job_id: str, status: str) -> dict:
    return {"jobId": job_id, "status": status}


def listening(settings, *job_ids: str, expected: int):
    received: list[tuple[str, str]] = []
    all_arrived = threading.Event()

    def on_event(_topic, data: dict) -> None:
        received.append((data["jobId"], data["status"]))
        if len(received) == expected:
            all_arrived.set()

    routes = [(JOB, job_id) for job_id in job_ids]
    listener = EventListener(on_event, settings, routes=routes).start()
    assert listener.ready.wait(15)
    return listener, received, all_arrived


def test_events_written_meanwhile_are_one_message_and_each_listener_gets_its_keys():
    settings = get_settings()
    fast, other = str(uuid.uuid4()), str(uuid.uuid4())
    both, received, all_arrived = listening(settings, fast, other, expected=4)
    only_other, received_other, other_arrived = listening(settings, other, expected=1)
    with Connection(settings.broker_url) as connection:
        # A queue bound to the second job's key alone counts the messages themselves: the
        # group reaches it through its BCC header (the message is routed by the first key).
        counting = Queue(f"test.writer.{other}", KEYED_EXCHANGE, routing_key=JOB.routing_key(other))
        counting(connection.default_channel).declare()
        try:
            busy = threading.Event()
            writer.submit(lambda: busy.wait(10))  # the writer is busy meanwhile
            writer.submit_event(JOB, event(fast, "RUNNING"), settings)
            writer.submit_event(JOB, event(fast, "SUCCEEDED"), settings)
            writer.submit_event(JOB, event(other, "RUNNING"), settings)
            writer.submit_event(JOB, event(fast, "PROGRESS"), settings)
            busy.set()
            assert writer.flush()
            assert all_arrived.wait(15)
            assert other_arrived.wait(15)
            messages = []
            while (message := counting(connection.default_channel).get(no_ack=True)) is not None:
                messages.append(message.payload)
        finally:
            counting(connection.default_channel).delete()
            both.stop()
            only_other.stop()
    assert received == [
        (fast, "RUNNING"),
        (fast, "SUCCEEDED"),
        (other, "RUNNING"),
        (fast, "PROGRESS"),
    ]
    assert received_other == [(other, "RUNNING")]  # not the other job's, though in its message
    assert [m["events"] for m in messages] == [
        [
            event(fast, "RUNNING"),
            event(fast, "SUCCEEDED"),
            event(other, "RUNNING"),
            event(fast, "PROGRESS"),
        ]
    ]
