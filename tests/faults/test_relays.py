"""Publishing each job once: two relays at once, and a relay racing a late after-commit
publish. Messages are counted on the queue itself (no worker consumes it here)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs import publishing
from lms.jobs.broker import publisher
from lms.jobs.models import Job, JobStatus
from lms.jobs.service import enqueue, relay_unpublished
from lms.models import utcnow
from tests.faults.support import record


def drain_default_queue() -> Counter:
    """Take every message off `default`: how many each job id got (other tasks left there
    by earlier tests' schedulers are dropped too, uncounted)."""
    app = publisher()
    counts: Counter = Counter()
    with app.connection_for_read() as connection:
        queue = app.amqp.queues["default"](connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            if message.headers.get("task") == "system.noop":
                counts[message.payload[0][0]] += 1
    return counts


def committed_but_never_published(count: int) -> list[str]:
    """What a crash between commit and publish leaves behind."""
    long_ago = utcnow() - timedelta(minutes=5)
    with session_scope() as session:
        jobs = [
            Job(
                id=uuid.uuid4(),
                kind="system.noop",
                queue="default",
                status=JobStatus.QUEUED,
                payload={},
                max_attempts=3,
                created_at=long_ago,
            )
            for _ in range(count)
        ]
        session.add_all(jobs)
    return [str(job.id) for job in jobs]


def relay_until_empty(start: threading.Barrier, published: list[int], stop=None) -> None:
    start.wait()
    while True:
        sent = relay_unpublished(older_than=0)
        published.append(sent)
        if not sent and (stop is None or stop.is_set()):
            return


def test_two_relays_at_once_publish_each_job_once():
    drain_default_queue()
    job_ids = committed_but_never_published(1200)
    start = threading.Barrier(2)
    published: list[list[int]] = [[], []]
    relays = [
        threading.Thread(target=relay_until_empty, args=(start, published[i])) for i in range(2)
    ]
    for relay in relays:
        relay.start()
    for relay in relays:
        relay.join(120)
    messages = drain_default_queue()
    assert sorted(messages) == sorted(job_ids)
    assert set(messages.values()) == {1}
    with session_scope() as session:
        assert all(session.get(Job, uuid.UUID(i)).published_at for i in job_ids)
    record(
        "two_relays",
        jobs=len(job_ids),
        messages=sum(messages.values()),
        published_by_relay=[sum(p) for p in published],
    )


def test_a_late_after_commit_publish_and_the_relay_publish_each_job_once():
    drain_default_queue()
    # Claims that expire at once: every after-commit publish is "late" and must win the
    # row from the relays (which scan continuously) before it may send.
    late = get_settings().model_copy(update={"relay_after_seconds": 0.0})
    stop = threading.Event()
    start = threading.Barrier(3)
    published: list[list[int]] = [[], []]
    relays = [
        threading.Thread(target=relay_until_empty, args=(start, published[i], stop))
        for i in range(2)
    ]
    for relay in relays:
        relay.start()
    start.wait()
    job_ids = []
    for _ in range(300):
        with session_scope() as session:
            job_ids.append(str(enqueue(session, "system.noop", settings=late).id))
    assert publishing.flush(60)  # every after-commit publish has sent or given way
    stop.set()
    for relay in relays:
        relay.join(120)
    messages = drain_default_queue()
    assert sorted(messages) == sorted(job_ids)
    assert set(messages.values()) == {1}
    record(
        "after_commit_vs_relay",
        jobs=len(job_ids),
        messages=sum(messages.values()),
        published_by_relays=sum(map(sum, published)),
        published_after_commit=len(job_ids) - sum(map(sum, published)),
    )
