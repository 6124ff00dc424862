"""Messaging and presence under load, on one API process.

    .venv/bin/python -m loadtests.bench_communication [--clients 1000] [--senders 200]
        [--messages 5000] [--presence-users 2000]

Runs on the services the tests use (PostgreSQL, RabbitMQ and Redis on 127.0.0.1), in a
database, RabbitMQ vhost and Redis key prefix of its own, and starts ONE API process
(`lms serve`, presence in Redis as in a distributed deployment).

Messaging: `--clients` websocket clients, each a student subscribed to their own
`messageReceived(userId)`; `--senders` classmates send `--messages` messages through
`sendMessage` over HTTP (as many requests in flight as senders), each to a random client.
Latency runs from the `sendMessage` response reaching the sender to the recipient's client
reading the message (same machine, same clock; an event that beats the response counts as
0). `lost` is messages answered by the API that never reached their recipient within 30 s
after the last send. A baseline first: 10 clients, a tenth of the messages, same senders,
so the ratios say what the 1,000 connected clients cost.

Presence: `--presence-users` members of one course send `updatePresence(ONLINE)` heartbeats
(each twice: an entry, then a refresh), while one member watches `userPresence(courseId)`.
Only entries and leaves are broadcast, batched per course about once a second: reported as
broadcasts per second seen by the watcher, against the heartbeats per second sent.

Nothing is asserted; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_communication.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment

BENCH_DB = f"lyceum_bench_communication_{os.getpid()}"
BENCH_VHOST = BENCH_DB
BASELINE = 10
OPEN_AT_ONCE = 50
GRACE_SECONDS = 30
RECEIVED = "subscription($u: ID!) { messageReceived(userId: $u) { id } }"
PRESENCE = "subscription($c: ID!) { userPresence(courseId: $c) { count entered { userId } } }"
SEND = 'mutation($r: ID!) { sendMessage(recipientId: $r, input: {content: "ping"}) { id } }'
BEAT = "mutation($c: ID) { updatePresence(status: ONLINE, courseId: $c) { status } }"


class BenchAborted(Exception):
    pass


def make_people(count: int) -> tuple[str, list[tuple[str, str]]]:
    """A course and `count` students enrolled in it: (course id, [(user id, token)])."""
    from lms.db import session_scope
    from lms.enrollments.models import Enrollment, EnrollmentStatus
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
        session.add_all(
            Enrollment(
                student_id=u.id, course_id=uuid.UUID(course.id), status=EnrollmentStatus.ACTIVE
            )
            for u in users
        )
        session.flush()
        return course.id, [(str(u.id), issue_access_token(u)) for u in users]


async def subscribe(ws_url: str, token: str, query: str, variables: dict, gate, on_event):
    """One websocket subscription; `on_event(payload, received_at)` per message. Returns the
    task once the server accepted it."""
    import websockets

    async with gate:
        ws = await websockets.connect(
            ws_url, subprotocols=["graphql-transport-ws"], ping_interval=None, max_queue=None
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        if json.loads(await ws.recv())["type"] != "connection_ack":
            raise BenchAborted("connection refused")
        payload = {"query": query, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))

    async def read():
        async with ws:
            async for raw in ws:
                at = time.time()
                message = json.loads(raw)
                if message["type"] == "next":
                    on_event(message["payload"]["data"], at)
                elif message["type"] == "error":
                    raise BenchAborted(f"subscription refused: {message}")

    return asyncio.create_task(read())


sent_to: dict[str, str] = {}
send_errors: dict[str, int] = {}


class Inbox:
    """Every message id a client received, and when."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.changed = asyncio.Event()

    def on_event(self, data: dict, at: float) -> None:
        self.received[data["messageReceived"]["id"]] = at
        self.changed.set()


async def send_all(http, senders, targets: list[str]) -> tuple[dict[str, float], float]:
    """A message to each of `targets` (user ids), as many in flight as there are senders:
    {message id: when its response arrived}, and the seconds it took. `sent_to` maps ids back."""
    answered: dict[str, float] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for target in targets:
        queue.put_nowait(target)

    async def sender(token: str):
        headers = {"Authorization": f"Bearer {token}"}
        while not queue.empty():
            recipient = queue.get_nowait()
            response = await http.post(
                "/graphql", json={"query": SEND, "variables": {"r": recipient}}, headers=headers
            )
            at = time.time()
            if response.status_code != 200:
                code = f"HTTP {response.status_code}"
                send_errors[code] = send_errors.get(code, 0) + 1
                continue
            body = response.json()
            if body.get("errors"):  # counted, and the API's log says why
                code = body["errors"][0].get("extensions", {}).get("code", "?")
                send_errors[code] = send_errors.get(code, 0) + 1
                continue
            message = body["data"]["sendMessage"]["id"]
            answered[message] = at
            sent_to[message] = recipient

    started = time.monotonic()
    await asyncio.gather(*(sender(token) for _, token in senders))
    return answered, time.monotonic() - started


async def delivered(inbox: Inbox, answered: dict[str, float]) -> None:
    deadline = time.monotonic() + GRACE_SECONDS
    while not answered.keys() <= inbox.received.keys() and time.monotonic() < deadline:
        inbox.changed.clear()
        try:
            await asyncio.wait_for(inbox.changed.wait(), max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break


def figures(inbox: Inbox, answered: dict[str, float], seconds: float) -> dict:
    latencies = sorted(
        max(0.0, (inbox.received[m] - at) * 1000)
        for m, at in answered.items()
        if m in inbox.received
    )
    if not latencies:
        raise BenchAborted("no message arrived")
    return {
        "messages": len(answered),
        "deliver_p50_ms": round(statistics.median(latencies), 2),
        "deliver_p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
        "lost": len(answered.keys() - inbox.received.keys()),
        "sends_per_s": round(len(answered) / seconds, 1),
    }


async def messaging(args, base_url: str, ws_url: str, people) -> tuple[dict, dict]:
    import httpx

    senders = people[: args.senders]
    recipients = people[args.senders : args.senders + args.clients]
    inbox, gate, tasks = Inbox(), asyncio.Semaphore(OPEN_AT_ONCE), []
    # Idle connections are dropped before the server's keep-alive (5 s) closes them under us.
    limits = httpx.Limits(max_connections=args.senders, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        try:

            async def open_clients(group):
                tasks.extend(
                    await asyncio.gather(
                        *(
                            subscribe(ws_url, token, RECEIVED, {"u": user}, gate, inbox.on_event)
                            for user, token in group
                        )
                    )
                )
                # A subscription binds its key just after it is accepted: one message to
                # each new client, until every one has arrived, before anything is measured.
                pending = {user for user, _ in group}
                for _ in range(20):
                    answered, _ = await send_all(http, senders, sorted(pending))
                    await delivered(inbox, answered)
                    pending -= {sent_to[m] for m in answered if m in inbox.received}
                    if not pending:
                        return
                raise BenchAborted(f"{len(pending)} clients never received their warm-up message")

            await open_clients(recipients[:BASELINE])
            count = max(100, args.messages // 10)
            targets = [random.choice(recipients[:BASELINE])[0] for _ in range(count)]
            answered, seconds = await send_all(http, senders, targets)
            await delivered(inbox, answered)
            baseline = figures(inbox, answered, seconds)
            print(f"bench: {BASELINE} clients: {baseline}", flush=True)

            await open_clients(recipients[BASELINE:])
            targets = [random.choice(recipients)[0] for _ in range(args.messages)]
            answered, seconds = await send_all(http, senders, targets)
            await delivered(inbox, answered)
            loaded = figures(inbox, answered, seconds)
            print(f"bench: {len(recipients)} clients: {loaded}", flush=True)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return baseline, loaded


async def presence(args, base_url: str, ws_url: str, course: str, people) -> dict:
    import httpx

    members = people[: args.presence_users]
    watcher_id, watcher_token = members[0]
    seen: list[tuple[float, dict]] = []
    bound = asyncio.Event()

    def on_event(data: dict, at: float) -> None:
        seen.append((at, data["userPresence"]))
        bound.set()

    task = await subscribe(
        ws_url, watcher_token, PRESENCE, {"c": course}, asyncio.Semaphore(1), on_event
    )
    # Idle connections are dropped before the server's keep-alive (5 s) closes them under us.
    limits = httpx.Limits(max_connections=args.senders, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:

        async def beat(token: str):
            response = await http.post(
                "/graphql",
                json={"query": BEAT, "variables": {"c": course}},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.json().get("errors"):
                raise BenchAborted(f"updatePresence failed: {response.json()['errors']}")

        while not bound.is_set():  # the watcher's own entry, once its key is bound
            await beat(watcher_token)
            try:
                await asyncio.wait_for(bound.wait(), 1.5)
            except TimeoutError:
                pass
        seen.clear()
        gate = asyncio.Semaphore(args.senders)

        async def paced(token: str):
            async with gate:
                await beat(token)

        started = time.monotonic()
        for _round in range(2):  # entries, then refreshes (which are not news)
            await asyncio.gather(*(paced(token) for _, token in members))
        seconds = time.monotonic() - started
        await asyncio.sleep(2.5)  # the window in which the last batch is broadcast
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    last_count = seen[-1][1]["count"] if seen else 0
    return {
        "presence_users": len(members),
        "presence_heartbeats_per_s": round(2 * len(members) / seconds, 1),
        "presence_broadcasts": len(seen),
        "presence_broadcasts_per_s": round(len(seen) / (seconds + 2.5), 2),
        "presence_count_seen": last_count,
    }


async def bench(args, base_url: str, people, course: str) -> dict:
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    baseline, loaded = await messaging(args, base_url, ws_url, people)
    present = await presence(args, base_url, ws_url, course, people)
    print(f"bench: presence: {present}", flush=True)
    return {
        "clients": args.clients,
        "messages": loaded["messages"],
        "deliver_p50_ms": loaded["deliver_p50_ms"],
        "deliver_p99_ms": loaded["deliver_p99_ms"],
        "lost": loaded["lost"],
        "presence_users": present["presence_users"],
        "presence_broadcasts_per_s": present["presence_broadcasts_per_s"],
        "senders": args.senders,
        "sends_per_s": loaded["sends_per_s"],
        "baseline_clients": BASELINE,
        "baseline_messages": baseline["messages"],
        "baseline_deliver_p50_ms": baseline["deliver_p50_ms"],
        "baseline_deliver_p99_ms": baseline["deliver_p99_ms"],
        "baseline_lost": baseline["lost"],
        "deliver_p50_ratio": round(
            loaded["deliver_p50_ms"] / max(baseline["deliver_p50_ms"], 0.01), 2
        ),
        "deliver_p99_ratio": round(
            loaded["deliver_p99_ms"] / max(baseline["deliver_p99_ms"], 0.01), 2
        ),
        "presence_heartbeats_per_s": present["presence_heartbeats_per_s"],
        "presence_broadcasts": present["presence_broadcasts"],
        "presence_count_seen": present["presence_count_seen"],
        "send_errors": send_errors,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def run(args) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(
        var_dir,
        broker_url,
        BENCH_DB,
        LMS_REDIS_URL="redis://127.0.0.1:6379/0",
        LMS_RATE_LIMIT_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:",
    )
    api = None
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import start_api

        upgrade(get_settings())
        needed = max(args.senders + args.clients, args.presence_users)
        course, people = make_people(needed)
        api, base_url = start_api()
        print(f"bench: database {BENCH_DB}, broker {broker_url.rsplit('@', 1)[-1]}", flush=True)
        try:
            result = asyncio.run(bench(args, base_url, people, course))
            # Why sends failed, from the API's own log (exception lines, by type).
            kinds: dict[str, int] = {}
            for line in api.lines:
                match = re.match(r"^([\w.]+(?:Error|Exception|Timeout)): ", line)
                if match:
                    kinds[match.group(1)] = kinds.get(match.group(1), 0) + 1
            result["api_exceptions"] = kinds
            return result
        except Exception:
            print("bench: the API's last lines:\n" + "".join(api.lines[-60:]), file=sys.stderr)
            raise
    finally:
        if api is not None:
            api.stop()
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000, help="default 1000")
    parser.add_argument("--senders", type=int, default=200, help="default 200")
    parser.add_argument("--messages", type=int, default=5000, help="default 5000")
    parser.add_argument("--presence-users", type=int, default=2000, help="default 2000")
    args = parser.parse_args(argv)
    if args.clients <= BASELINE:
        parser.error(f"--clients must be above the baseline's {BASELINE}")
    try:
        result = run(args)
    except BenchAborted as error:
        print(f"bench: aborted: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
