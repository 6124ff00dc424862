"""Live events: publish-to-client latency and the API's CPU per event, by subscriber count.

    .venv/bin/python -m loadtests.bench_events [--subscribers 1000] [--events 2000] [--rate 200]

Runs on the services the tests use (PostgreSQL and RabbitMQ on 127.0.0.1; override with
LMS_TEST_PG_ADMIN_URL / LMS_TEST_BROKER_URL), in a database and RabbitMQ vhost of its own.
It starts ONE API process (`lms serve`) and opens websocket subscriptions
(`graphql-transport-ws`), each a different student watching their own enrollment
(`enrollmentProgressUpdated(enrollmentId)`, a per-user stream keyed by enrollment id):

- baseline: 10 open subscriptions; a separate publisher process sends `--events` progress
  events at `--rate` per second, each to one of the 10 keys at random;
- loaded: `--subscribers` open subscriptions (the 10 plus the rest), the same number of
  events, each to one of all the keys at random.

Each event reaches exactly one client in both runs, so with keyed routing its cost must not
depend on how many other clients are connected. Latency runs from the publisher stamping
`updatedAt` to the client reading the message (same machine, same clock). CPU is the API
process's user+system time (psutil) from the first publish to the last delivery, divided by
the events. Nothing is asserted; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_events.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment

BENCH_DB = f"lyceum_bench_events_{os.getpid()}"
BENCH_VHOST = BENCH_DB
BASELINE = 10
OPEN_AT_ONCE = 50  # websocket handshakes in flight while subscribing
SUBSCRIPTION = (
    "subscription($e: ID!) { enrollmentProgressUpdated(enrollmentId: $e) "
    "{ enrollmentId completedLessons updatedAt } }"
)
# Runs in its own process, as a worker would: paced sends, each stamped when published.
PUBLISHER = """
import json, random, sys, time
from datetime import UTC, datetime
from lms.events.bus import publish_event
from lms.events.topics import ENROLLMENT_PROGRESS

keys, count, rate = json.loads(sys.stdin.read())
def send(key, number):
    publish_event(ENROLLMENT_PROGRESS, {
        "enrollmentId": key, "studentId": "bench", "courseId": "bench", "status": "ACTIVE",
        "progressPercent": 0.0, "completedLessons": number, "totalLessons": count,
        "timeSpentSeconds": 0, "updatedAt": datetime.now(UTC).isoformat()})
send("nobody", 0)  # the connection opens before the clock starts
print("ready", flush=True)
sys.stdin.close()
start = time.monotonic()
for number in range(1, count + 1):
    pause = start + number / rate - time.monotonic()
    if pause > 0:
        time.sleep(pause)  # pacing: a steady rate measures latency, not a queue
    send(random.choice(keys), number)
"""


class BenchAborted(Exception):
    pass


def make_students(count: int) -> list[tuple[str, str]]:
    """`count` students, each enrolled in one course: (access token, enrollment id)."""
    from lms.db import session_scope
    from lms.enrollments.models import Enrollment
    from lms.security import issue_access_token
    from lms.users.models import Role, User
    from tests.enrollments.support import make_course
    from tests.support import create_user

    owner, _ = create_user(Role.EDUCATOR)
    course = make_course(owner.id)
    with session_scope() as session:
        users = [
            User(email=f"bench-{i}@example.test", name=f"Student {i}", role=Role.STUDENT)
            for i in range(count)
        ]
        session.add_all(users)
        session.flush()
        enrollments = [Enrollment(student_id=u.id, course_id=course.id) for u in users]
        session.add_all(enrollments)
        session.flush()
        return [(issue_access_token(u), str(e.id)) for u, e in zip(users, enrollments)]


class Clients:
    """Websocket subscribers; each records the latency of every event it receives."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.latencies: list[float] = []
        self.expected = 0
        self.all_received = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    async def open(self, students: list[tuple[str, str]]) -> None:
        gate = asyncio.Semaphore(OPEN_AT_ONCE)
        ready = [asyncio.get_running_loop().create_future() for _ in students]
        for (token, enrollment), subscribed in zip(students, ready):
            self.tasks.append(asyncio.create_task(self._run(token, enrollment, gate, subscribed)))
        await asyncio.gather(*ready)

    async def _run(self, token: str, enrollment: str, gate, subscribed: asyncio.Future) -> None:
        import websockets

        async with gate:
            ws = await websockets.connect(
                self.ws_url, subprotocols=["graphql-transport-ws"], ping_interval=None
            )
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = {"query": SUBSCRIPTION, "variables": {"e": enrollment}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
            first = json.loads(await ws.recv())  # the current state: the key is bound now
            if first["type"] != "next":
                subscribed.set_exception(BenchAborted(f"subscription refused: {first}"))
                return
        subscribed.set_result(None)
        async with ws:
            async for raw in ws:
                received = time.time()
                message = json.loads(raw)
                if message["type"] != "next":
                    continue
                event = message["payload"]["data"]["enrollmentProgressUpdated"]
                sent = datetime.fromisoformat(event["updatedAt"]).timestamp()
                self.latencies.append((received - sent) * 1000)
                if len(self.latencies) >= self.expected:
                    self.all_received.set()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def start_publisher(keys: list[str], count: int, rate: float) -> subprocess.Popen:
    """The publisher process, once its broker connection is open."""
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    publisher.stdin.write(json.dumps([keys, count, rate]))
    publisher.stdin.close()
    if publisher.stdout.readline() != "ready\n":
        raise BenchAborted("the publisher process did not start")
    return publisher


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def idle_cpu(pid: int, seconds: float = 3.0) -> float:
    """The API's CPU with the subscriptions open and no events: what merely holding them costs."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)  # the window measured, not a wait for something
    return round((cpu_seconds(pid) - before) * 1000 / seconds, 2)


async def measure(clients: Clients, api_pid: int, keys: list[str], args) -> dict:
    """Publish `args.events` to random `keys` from another process; latency and API CPU."""
    clients.latencies, clients.expected = [], args.events
    clients.all_received.clear()
    publisher = await asyncio.to_thread(start_publisher, keys, args.events, args.rate)
    before, started = cpu_seconds(api_pid), time.monotonic()
    try:
        await asyncio.wait_for(clients.all_received.wait(), args.events / args.rate + 60)
    except TimeoutError:
        raise BenchAborted(
            f"only {len(clients.latencies)} of {args.events} events arrived"
        ) from None
    after, elapsed = cpu_seconds(api_pid), time.monotonic() - started
    await asyncio.to_thread(publisher.wait, 30)
    cpu_ms = (after - before) * 1000
    latencies = sorted(clients.latencies)
    return {
        "subscribers": len(clients.tasks),
        "events": args.events,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "cpu_per_event_ms": round(cpu_ms / args.events, 3),
        "seconds": round(elapsed, 2),
    }


async def bench(args, ws_url: str, api_pid: int, students: list[tuple[str, str]]) -> dict:
    clients = Clients(ws_url)
    try:
        await clients.open(students[:BASELINE])
        keys = [enrollment for _, enrollment in students]
        warm = argparse.Namespace(**{**vars(args), "events": min(200, args.events)})
        await measure(clients, api_pid, keys[:BASELINE], warm)  # caches, pools, connections
        baseline = await measure(clients, api_pid, keys[:BASELINE], args)
        print(f"bench: {BASELINE} subscribers: {baseline}", flush=True)
        baseline["idle_cpu_ms_per_s"] = await idle_cpu(api_pid)
        started, cpu = time.monotonic(), cpu_seconds(api_pid)
        await clients.open(students[BASELINE:])
        opening = {
            "seconds": round(time.monotonic() - started, 1),
            "cpu_ms_per_subscription": round(
                (cpu_seconds(api_pid) - cpu) * 1000 / (len(students) - BASELINE), 2
            ),
        }
        print(f"bench: {len(students)} subscriptions open: {opening}", flush=True)
        loaded = await measure(clients, api_pid, keys, args)
        loaded["idle_cpu_ms_per_s"] = await idle_cpu(api_pid)
        print(f"bench: {len(students)} subscribers: {loaded}", flush=True)
    finally:
        await clients.close()
    ratio = loaded["cpu_per_event_ms"] / max(baseline["cpu_per_event_ms"], 1e-9)
    return {
        **{key: loaded[key] for key in ("subscribers", "events", "p50_ms", "p99_ms")},
        "cpu_per_event_ms": loaded["cpu_per_event_ms"],
        "cpu_per_event_ratio_1000_vs_10": round(ratio, 3),
        "baseline_subscribers": BASELINE,
        "baseline_p50_ms": baseline["p50_ms"],
        "baseline_p99_ms": baseline["p99_ms"],
        "baseline_cpu_per_event_ms": baseline["cpu_per_event_ms"],
        "baseline_idle_cpu_ms_per_s": baseline["idle_cpu_ms_per_s"],
        "idle_cpu_ms_per_s": loaded["idle_cpu_ms_per_s"],
        "open_cpu_ms_per_subscription": opening["cpu_ms_per_subscription"],
        "rate_per_second": args.rate,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def run(args) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(var_dir, broker_url, BENCH_DB)
    api = None
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import start_api

        upgrade(get_settings())
        students = make_students(args.subscribers)
        api, base_url = start_api()
        ws_url = base_url.replace("http://", "ws://") + "/graphql"
        print(f"bench: database {BENCH_DB}, broker {broker_url.rsplit('@', 1)[-1]}", flush=True)
        return asyncio.run(bench(args, ws_url, api.popen.pid, students))
    finally:
        if api is not None:
            api.stop()
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000, help="default 1000")
    parser.add_argument("--events", type=int, default=2000, help="per run (default 2000)")
    parser.add_argument("--rate", type=float, default=200, help="events per second (200)")
    args = parser.parse_args(argv)
    if args.subscribers <= BASELINE:
        parser.error(f"--subscribers must be above the baseline's {BASELINE}")
    try:
        result = run(args)
    except BenchAborted as error:
        print(f"bench: aborted: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
