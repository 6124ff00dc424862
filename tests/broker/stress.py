"""Many producer and consumer processes on one filesystem broker folder, every message counted.

`run(transport, folder)` starts the producers and consumers together (so publishing and
consuming overlap, which is where a non-atomic write shows), collects what every consumer
received, and returns the count of lost and duplicated messages and the consumers that
crashed. `transport` is a kombu transport class path: ours or kombu's stock one.

    .venv/bin/python -m tests.broker.stress [stock|lyceum]
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kombu import Connection, Exchange, Queue

OURS = "lms.jobs.filesystem_transport:Transport"
STOCK = "kombu.transport.filesystem:Transport"
# Consumers that saw no message for this long, with nothing left in the folder, are done:
# whatever has not arrived by then never will (it was lost).
QUIET_SECONDS = 1.0


@dataclass
class Outcome:
    sent: int
    received: Counter = field(default_factory=Counter)  # (queue, message id) -> deliveries
    crashes: list[str] = field(default_factory=list)
    expected: set = field(default_factory=set)

    @property
    def lost(self) -> int:
        return len(self.expected - set(self.received))

    @property
    def duplicated(self) -> int:
        return sum(count - 1 for count in self.received.values() if count > 1)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.crashes)

    def summary(self) -> str:
        return (
            f"sent {self.sent}, delivered {sum(self.received.values())}, lost {self.lost}, "
            f"duplicated {self.duplicated}, crashed consumers {len(self.crashes)}"
        )


def _options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "polling_interval": 0.01,
    }


def _connection(transport: str, folder: Path) -> Connection:
    return Connection("filesystem://", transport=transport, transport_options=_options(folder))


def _queues(fanout: int) -> list[Queue]:
    """One queue on a direct exchange, or `fanout` queues bound to one fanout exchange."""
    if fanout:
        exchange = Exchange("stress.fanout", type="fanout")
        return [Queue(f"stress.fan{index}", exchange) for index in range(fanout)]
    return [Queue("stress", Exchange("stress", type="direct"), routing_key="stress")]


def _produce(transport, folder, fanout, producer, count, padding, start) -> None:
    start.wait()
    target = _queues(fanout)[0]
    with _connection(transport, folder) as connection:
        publish = connection.Producer().publish
        for index in range(count):
            body = {"id": f"{producer}-{index}", "padding": "x" * padding}
            publish(body, exchange=target.exchange, routing_key=target.routing_key)


def _consume(transport, folder, queues, label, number, results, start, stop) -> None:
    def on_message(body, message) -> None:
        results.put(("message", label, body["id"]))
        message.ack()

    try:
        with (
            _connection(transport, folder) as connection,
            connection.Consumer(queues, callbacks=[on_message], accept=["json"]),
        ):
            start.wait()
            while not stop.is_set():
                try:
                    connection.drain_events(timeout=0.1)
                except TimeoutError:
                    continue
    except Exception as error:  # noqa: BLE001 - reported to the parent as a crash
        results.put(("crash", str(number), f"{type(error).__name__}: {error}"))
        sys.exit(1)


def _queued(folder: Path) -> int:
    return sum(1 for name in os.listdir(folder / "queue") if name.endswith(".msg"))


def run(
    transport: str,
    folder: Path,
    *,
    producers: int = 4,
    consumers: int = 4,
    per_producer: int = 1000,
    padding: int = 4096,
    fanout: int = 0,
    timeout: float = 120,
) -> Outcome:
    """Publish `producers * per_producer` messages while `consumers` processes take them.

    With `fanout` > 0 every message goes to `fanout` queues, each consumed by
    `consumers // fanout` processes, and must arrive once per queue."""
    for name in ("queue", "control", "processed"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    queues = _queues(fanout)
    with _connection(transport, folder) as connection:
        for declared in queues:
            declared(connection.default_channel).declare()
    context = multiprocessing.get_context("fork")
    results, start, stop = context.Queue(), context.Event(), context.Event()
    consuming = []
    for number in range(consumers):
        # Fanout: consumers share out the queues; each queue has at least one.
        mine = [queues[number % len(queues)]] if fanout else queues
        label = mine[0].name if fanout else ""  # which copy of a fanout message this is
        consuming.append(
            context.Process(
                target=_consume,
                args=(transport, folder, mine, label, number, results, start, stop),
                daemon=True,
            )
        )
    producing = [
        context.Process(
            target=_produce,
            args=(transport, folder, fanout, index, per_producer, padding, start),
            daemon=True,
        )
        for index in range(producers)
    ]
    ids = {f"{p}-{i}" for p in range(producers) for i in range(per_producer)}
    names = [q.name for q in queues]
    outcome = Outcome(
        sent=len(ids) * len(names), expected={(q, i) for q in names for i in ids} if fanout else ids
    )
    for process in consuming + producing:
        process.start()
    start.set()
    deadline = time.monotonic() + timeout
    last_message = time.monotonic()
    try:
        while time.monotonic() < deadline:
            try:
                kind, *detail = results.get(timeout=0.2)
            except queue_module.Empty:
                producing_done = not any(p.is_alive() for p in producing)
                consumers_alive = any(p.is_alive() for p in consuming)
                quiet = time.monotonic() - last_message > QUIET_SECONDS
                if producing_done and (not consumers_alive or (quiet and not _queued(folder))):
                    break
                continue
            if kind == "crash":
                outcome.crashes.append(" ".join(detail))
                continue
            last_message = time.monotonic()
            label, message_id = detail
            outcome.received[(label, message_id) if fanout else message_id] += 1
    finally:
        stop.set()
        for process in consuming + producing:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        # Crashes reported while shutting down still count.
        while True:
            try:
                kind, *detail = results.get_nowait()
            except queue_module.Empty:
                break
            if kind == "crash":
                outcome.crashes.append(" ".join(detail))
    return outcome


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "lyceum"
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        result = run(STOCK if which == "stock" else OURS, Path(scratch))
        print(f"{which}: {result.summary()} in {time.monotonic() - started:.1f} s")
