"""The job writer's bus events (`lms.jobs.writer`): a run of one job's events written while
the writer was busy goes out as one message, and a listener still receives every event,
in order, one by one; other jobs' events keep their place."""

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


def test_a_jobs_consecutive_events_are_one_message_and_arrive_one_by_one():
    settings = get_settings()
    fast, other = str(uuid.uuid4()), str(uuid.uuid4())
    received: list[tuple[str, str]] = []
    all_arrived = threading.Event()

    def on_event(_topic, data: dict) -> None:
        received.append((data["jobId"], data["status"]))
        if len(received) == 4:
            all_arrived.set()

    listener = EventListener(on_event, settings, routes=[(JOB, fast), (JOB, other)]).start()
    assert listener.ready.wait(15)
    with Connection(settings.broker_url) as connection:
        # A second queue bound to the same keys counts the messages themselves.
        counting = Queue(f"test.writer.{fast}", KEYED_EXCHANGE, routing_key=JOB.routing_key(fast))
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
            messages = []
            while (message := counting(connection.default_channel).get(no_ack=True)) is not None:
                messages.append(message.payload)
        finally:
            counting(connection.default_channel).delete()
            listener.stop()
    assert received == [
        (fast, "RUNNING"),
        (fast, "SUCCEEDED"),
        (other, "RUNNING"),
        (fast, "PROGRESS"),
    ]
    # RUNNING and SUCCEEDED in one message; the later event, after another job's, apart.
    assert [m.get("events", [m.get("data")]) for m in messages] == [
        [event(fast, "RUNNING"), event(fast, "SUCCEEDED")],
        [event(fast, "PROGRESS")],
    ]
