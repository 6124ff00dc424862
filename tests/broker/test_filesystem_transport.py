"""The embedded broker under concurrent producers and consumers: nothing lost, nothing twice.

Each run starts real processes (see `tests.broker.stress`) on one broker folder. The same
harness run against kombu's stock filesystem transport must catch its race (a consumer
reads a message file that its producer has created but not yet written), or the harness
would prove nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest
from kombu import Connection, Exchange, Queue
from kombu.simple import SimpleQueue

from tests.broker.stress import OURS, STOCK, run

SimpleQueueEmpty = SimpleQueue.Empty


def test_thousands_of_messages_arrive_exactly_once_with_no_consumer_crash(tmp_path):
    outcome = run(OURS, tmp_path, producers=4, consumers=4, per_producer=1000)
    assert outcome.sent == 4000
    assert (outcome.lost, outcome.duplicated, outcome.crashes) == (0, 0, []), outcome.summary()


def test_fanout_gives_every_bound_queue_each_message_once(tmp_path):
    # Two queues on one fanout exchange (as events and Celery control use), two competing
    # consumers on each: every message arrives once per queue.
    outcome = run(OURS, tmp_path, producers=3, consumers=4, per_producer=300, fanout=2)
    assert outcome.sent == 1800
    assert (outcome.lost, outcome.duplicated, outcome.crashes) == (0, 0, []), outcome.summary()


def test_the_same_harness_catches_the_race_in_kombus_stock_transport(tmp_path):
    # The race needs a consumer to claim a file in the microseconds between its creation
    # and its write, so one round may in principle pass; on this machine every round so far
    # crashed consumers within the first few hundred messages. Up to three rounds keep the
    # test from depending on one unlucky schedule.
    outcomes = []
    for round_number in range(3):
        outcome = run(
            STOCK, tmp_path / f"round{round_number}", producers=4, consumers=4, per_producer=250
        )
        outcomes.append(outcome.summary())
        if not outcome.clean:
            break
    assert not outcome.clean, f"stock transport survived every round: {outcomes}"
    assert outcome.lost or outcome.crashes


FANOUT = Exchange("bound.fanout", type="fanout")


def _options(folder) -> dict:
    folder = str(folder)
    return {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}


def _listener(number: int) -> Queue:
    return Queue(f"listener{number}", FANOUT)


def _bind(folder: str, number: int, start) -> None:
    start.wait()
    with Connection("filesystem://", transport=OURS, transport_options=_options(folder)) as conn:
        _listener(number)(conn.default_channel).declare()


def test_queues_bound_at_the_same_moment_all_receive_fanout(tmp_path):
    # Several processes starting together (API processes, the Celery worker) each bind their
    # own queue to one fanout exchange; no binding may overwrite another.
    context = multiprocessing.get_context("fork")
    start = context.Event()
    binders = [context.Process(target=_bind, args=(tmp_path, n, start)) for n in range(8)]
    for process in binders:
        process.start()
    start.set()
    for process in binders:
        process.join(timeout=30)
    assert [process.exitcode for process in binders] == [0] * 8
    with Connection("filesystem://", transport=OURS, transport_options=_options(tmp_path)) as conn:
        conn.Producer().publish({"hello": "all"}, exchange=FANOUT)
        received = [conn.SimpleQueue(_listener(n)).get(timeout=5).payload for n in range(8)]
    assert received == [{"hello": "all"}] * 8


def _take_and_hold(folder: str, taken) -> None:
    with Connection("filesystem://", transport=OURS, transport_options=_options(folder)) as conn:
        queue = conn.SimpleQueue("held")
        message = queue.get(timeout=30)  # taken, never acknowledged
        taken.put(message.payload)
        threading.Event().wait()  # until killed


def test_a_message_taken_by_a_consumer_killed_before_its_ack_is_delivered_again(tmp_path):
    with Connection("filesystem://", transport=OURS, transport_options=_options(tmp_path)) as conn:
        conn.SimpleQueue("held").put({"job": 1})
    context = multiprocessing.get_context("fork")
    taken = context.Queue()
    consumer = context.Process(target=_take_and_hold, args=(tmp_path, taken))
    consumer.start()
    assert taken.get(timeout=30) == {"job": 1}
    with (
        Connection("filesystem://", transport=OURS, transport_options=_options(tmp_path)) as conn,
        pytest.raises(SimpleQueueEmpty),  # held by a live consumer: nobody else gets it
    ):
        conn.SimpleQueue("held").get_nowait()
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.join(timeout=30)
    # The next consumer to connect finds the dead one's message and queues it again.
    with Connection("filesystem://", transport=OURS, transport_options=_options(tmp_path)) as conn:
        queue = conn.SimpleQueue("held")
        message = queue.get(timeout=10)
        message.ack()
        assert message.payload == {"job": 1}
        with pytest.raises(SimpleQueueEmpty):
            queue.get_nowait()


def test_a_message_not_acknowledged_before_close_goes_back_to_its_queue(tmp_path):
    options = _options(tmp_path)
    with Connection("filesystem://", transport=OURS, transport_options=options) as conn:
        queue = conn.SimpleQueue("handback")
        queue.put({"n": 1})
        queue.put({"n": 2})
        assert queue.get(timeout=5).payload == {"n": 1}  # not acknowledged
    with Connection("filesystem://", transport=OURS, transport_options=options) as conn:
        queue = conn.SimpleQueue("handback")
        received = []
        for _ in range(2):
            message = queue.get(timeout=5)
            message.ack()
            received.append(message.payload)
    assert received == [{"n": 1}, {"n": 2}]  # back in its place in line


def test_messages_left_by_kombus_stock_transport_are_delivered(tmp_path):
    # An existing var/broker from before this transport: its flat-folder messages still count.
    options = _options(tmp_path)
    with Connection("filesystem://", transport=STOCK, transport_options=options) as conn:
        for n in range(3):
            conn.SimpleQueue("legacy").put({"n": n})
    with Connection("filesystem://", transport=OURS, transport_options=options) as conn:
        queue = conn.SimpleQueue("legacy")
        received = []
        for _ in range(3):
            message = queue.get(timeout=5)
            message.ack()
            received.append(message.payload)
    # Each exactly once; their order is the stock transport's (millisecond names that tie).
    assert sorted(message["n"] for message in received) == [0, 1, 2]


# Names of its own: kombu keeps bindings it made in a process-wide state and would skip
# binding a queue of the same name again in this test's folder.
EVENTS = Exchange("killed.events", type="fanout")


def _listen_and_hold(folder: str, ready) -> None:
    with Connection("filesystem://", transport=OURS, transport_options=_options(folder)) as conn:
        listener = Queue("killed.listener", EVENTS, auto_delete=True)
        with conn.Consumer(listener, callbacks=[lambda body, message: message.ack()]):
            ready.set()
            threading.Event().wait()  # until killed


def test_the_queue_of_a_killed_listener_stops_collecting_fanout_messages(tmp_path):
    # A monitor or API process killed with SIGKILL never deletes its auto-delete queue; the
    # next process to connect does, or every later event would pile up in it for nobody.
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    listener = context.Process(target=_listen_and_hold, args=(tmp_path, ready))
    listener.start()
    assert ready.wait(30)
    survivor = Queue("survivor", EVENTS)  # a live listener on the same exchange
    with Connection("filesystem://", transport=OURS, transport_options=_options(tmp_path)) as conn:
        conn.SimpleQueue(survivor)
        conn.Producer().publish({"n": 1}, exchange=EVENTS)
        assert os.listdir(tmp_path / "killed.listener") != []  # delivered while it lived
        os.kill(listener.pid, signal.SIGKILL)
        listener.join(timeout=30)
    with Connection("filesystem://", transport=OURS, transport_options=_options(tmp_path)) as conn:
        conn.Producer().publish({"n": 2}, exchange=EVENTS)
        queue = conn.SimpleQueue(survivor)
        assert [queue.get(timeout=5).payload for _ in range(2)] == [{"n": 1}, {"n": 2}]
    assert not (tmp_path / "killed.listener").exists()
