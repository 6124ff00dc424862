"""Where a message's time goes between the sender's commit and the recipient's websocket frame.

    .venv/bin/python -m loadtests.profile_communication [--clients 100] [--senders 50]
        [--messages 1000] [--top 30]

Runs `bench_communication`'s messaging part (no baseline, no presence) against ONE API
process started through this module (`--api`), which stamps each `messageReceived` event at
every stage of its path, by message id:

    commit      the request's transaction committed (the loop thread)
    handoff     the after-commit hand-off ran
    bus_start   the bus publish began / bus_done: it returned
    listener    the listener thread received it from RabbitMQ
    dispatch    the event loop put it on the subscriber's queue
    yielded     the subscription's source yielded it
    ws_send     the websocket frame was handed to the server
    response    the sender's HTTP response body was handed to the server

It prints p50/p99 of each step, the API's CPU per send by thread, and the loop thread's
cProfile (CPU time: own and cumulative). Nothing is asserted; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = (
    "commit",
    "handoff",
    "bus_start",
    "bus_done",
    "listener",
    "dispatch",
    "yielded",
    "ws_send",
)
_stamps: dict[str, dict[str, float]] = {}


def _stamp(stage: str, message_id: str | None) -> None:
    if message_id:
        _stamps.setdefault(message_id, {}).setdefault(stage, time.time())


def _instrument() -> None:
    """Wrap the path's functions in this (API) process so each stage stamps the message."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    import lms.communication.events as comm_events
    import lms.events.bus as bus
    import lms.events.ordered as ordered
    import web.app
    import web.events
    from lms.events.topics import MESSAGE_RECEIVED

    ids_key = "profile.message_ids"
    original_after_commit_publish = comm_events.after_commit_publish

    def after_commit_publish(session, topic, payloads):
        if topic is MESSAGE_RECEIVED:
            ids = [p["id"] for p in payloads]
            session.info.setdefault(ids_key, []).extend(ids)
            from lms.jobs.service import after_commit

            after_commit(session, lambda: [_stamp("handoff", i) for i in ids], inline=True)
        original_after_commit_publish(session, topic, payloads)

    comm_events.after_commit_publish = after_commit_publish

    @event.listens_for(Session, "after_commit")
    def _committed(session):
        for message_id in session.info.pop(ids_key, []):
            _stamp("commit", message_id)

    original_publish_batches = bus.publish_batches

    def publish_batches(batches, settings=None):
        mine = [
            p.get("id")
            for topic, payloads in batches
            if topic is MESSAGE_RECEIVED
            for p in payloads
        ]
        for message_id in mine:
            _stamp("bus_start", message_id)
        original_publish_batches(batches, settings)
        for message_id in mine:
            _stamp("bus_done", message_id)

    bus.publish_batches = publish_batches
    ordered.publish_batches = publish_batches

    hub = web.events.EventHub
    original_from_thread, original_dispatch = hub._from_thread, hub._dispatch
    original_stream = hub.stream

    def _from_thread(self, topic, data):
        if topic is MESSAGE_RECEIVED:
            _stamp("listener", data.get("id"))
        original_from_thread(self, topic, data)

    def _dispatch(self, name, key, event_view):
        if name == MESSAGE_RECEIVED.name:
            _stamp("dispatch", event_view.get("id"))
        original_dispatch(self, name, key, event_view)

    async def stream(self, topic, key="*", **kwargs):
        async for item in original_stream(self, topic, key, **kwargs):
            if topic is MESSAGE_RECEIVED and isinstance(item, dict):
                _stamp("yielded", item.get("id"))
            yield item

    hub._from_thread, hub._dispatch, hub.stream = _from_thread, _dispatch, stream

    original_route = web.app.Dispatcher._route

    async def _route(self, scope, receive, send):
        async def traced_send(message):
            body = message.get("text") or message.get("body") or b""
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            if '"messageReceived"' in body:
                _stamp("ws_send", json.loads(body)["payload"]["data"]["messageReceived"]["id"])
            elif '"sendMessage"' in body:
                _stamp("response", json.loads(body)["data"]["sendMessage"]["id"])
            await send(message)

        await original_route(self, scope, receive, traced_send)

    web.app.Dispatcher._route = _route


_gc: dict[int, list[float]] = {0: [], 1: [], 2: []}
_gc_started = [0.0]


def _on_gc(phase: str, info: dict) -> None:
    """Collector pauses by generation: a pause stops the event loop and every thread."""
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _gc[info["generation"]].append((time.perf_counter() - _gc_started[0]) * 1000)


def _thread_cpu() -> dict[str, float]:
    """CPU seconds so far per live thread of this process, by Python thread name."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        utime, stime = fields.rsplit(")", 1)[1].split()[11:13]
        name = thread.name.rstrip("_0123456789").rstrip("-_")
        cpu[name] = cpu.get(name, 0.0) + (int(utime) + int(stime)) / tick
    return cpu


def api_main(out_dir: Path, argv: list[str]) -> int:
    """The API process: instrument, profile the loop thread, serve, dump on the way out."""
    import cProfile

    from lyceum import cli

    _instrument()
    gc.callbacks.append(_on_gc)
    profile = cProfile.Profile(time.thread_time)  # CPU, not waits
    cpu_before = _thread_cpu()

    def dump() -> None:
        cpu = _thread_cpu()
        profile.disable()
        profile.dump_stats(out_dir / "loop.prof")
        (out_dir / "stamps.json").write_text(json.dumps(_stamps))
        (out_dir / "gc.json").write_text(json.dumps(_gc))
        (out_dir / "cpu.json").write_text(
            json.dumps({k: v - cpu_before.get(k, 0.0) for k, v in cpu.items()})
        )

    # Profiled only while messages flow (the bench starts and stops it through these files).
    def control() -> None:
        started = out_dir / "start"
        while not started.exists():
            time.sleep(0.05)
        cpu_before.update(_thread_cpu())
        _stamps.clear()
        for pauses in _gc.values():
            pauses.clear()
        loop_thread_profile.set()
        while not (out_dir / "stop").exists():
            time.sleep(0.05)
        loop_thread_stop.set()

    loop_thread_profile, loop_thread_stop = threading.Event(), threading.Event()
    threading.Thread(target=control, daemon=True).start()

    async def toggler() -> None:  # cProfile profiles the thread that enables it: the loop's
        await asyncio.to_thread(loop_thread_profile.wait)
        profile.enable()
        await asyncio.to_thread(loop_thread_stop.wait)
        dump()
        (out_dir / "dumped").write_text("1")

    original_serve = cli.cmd_serve

    def cmd_serve(args):
        import hypercorn.asyncio

        serve = hypercorn.asyncio.serve

        async def serve_with_toggler(app, config, **kwargs):
            task = asyncio.create_task(toggler())
            try:
                return await serve(app, config, **kwargs)
            finally:
                task.cancel()

        hypercorn.asyncio.serve = serve_with_toggler
        return original_serve(args)

    cli.cmd_serve = cmd_serve
    return cli.main(argv)


def report(out_dir: Path, sends: int, top: int) -> dict:
    stamps: dict[str, dict[str, float]] = json.loads((out_dir / "stamps.json").read_text())
    cpu: dict[str, float] = json.loads((out_dir / "cpu.json").read_text())
    steps: dict[str, list[float]] = {}
    for marks in stamps.values():
        ordered = [s for s in STAGES if s in marks]
        for a, b in zip(ordered, ordered[1:], strict=False):
            steps.setdefault(f"{a}->{b}", []).append((marks[b] - marks[a]) * 1000)
        if "commit" in marks and "ws_send" in marks:
            steps.setdefault("commit->ws_send (total)", []).append(
                (marks["ws_send"] - marks["commit"]) * 1000
            )
        if "response" in marks and "ws_send" in marks:
            steps.setdefault("response->ws_send", []).append(
                max(0.0, marks["ws_send"] - marks["response"]) * 1000
            )
        if "commit" in marks and "response" in marks:
            steps.setdefault("commit->response", []).append(
                (marks["response"] - marks["commit"]) * 1000
            )

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return round(values[max(0, int(len(values) * q) - 1)], 2)

    table = {
        name: {
            "n": len(values),
            "p50": round(statistics.median(values), 2),
            "p99": pct(values, 0.99),
        }
        for name, values in steps.items()
    }
    for name, row in table.items():
        print(f"{name:28} n={row['n']:5}  p50 {row['p50']:8.2f} ms  p99 {row['p99']:8.2f} ms")
    gc_pauses = {
        f"gen{g}": {"n": len(v), "ms_total": round(sum(v), 1), "ms_max": round(max(v or [0]), 1)}
        for g, v in json.loads((out_dir / "gc.json").read_text()).items()
    }
    print(f"GC pauses while messages flowed: {gc_pauses}")
    per_send = {k: round(v * 1000 / max(sends, 1), 2) for k, v in sorted(cpu.items()) if v}
    print(f"API CPU ms per send, by thread: {per_send}")
    stats = pstats.Stats(str(out_dir / "loop.prof"))
    for key in ("tottime", "cumulative"):
        print(f"--- loop thread, by {key}")
        stats.sort_stats(key).print_stats(top)
    return {"steps": table, "cpu_ms_per_send": per_send, "gc": gc_pauses}


async def drive(args, base_url: str, people, out_dir: Path) -> int:
    import httpx

    from loadtests import bench_communication as bench

    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    senders = people[: args.senders]
    recipients = people[args.senders : args.senders + args.clients]
    inbox, gate = bench.Inbox(), asyncio.Semaphore(bench.OPEN_AT_ONCE)
    limits = httpx.Limits(max_connections=args.senders, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        tasks = await asyncio.gather(
            *(
                bench.subscribe(ws_url, token, bench.RECEIVED, {"u": user}, gate, inbox.on_event)
                for user, token in recipients
            )
        )
        pending = {user for user, _ in recipients}
        for _ in range(20):  # every key bound before anything is measured
            answered, _ = await bench.send_all(http, senders, sorted(pending))
            await bench.delivered(inbox, answered)
            pending -= {bench.sent_to[m] for m in answered if m in inbox.received}
            if not pending:
                break
        (out_dir / "start").write_text("1")
        await asyncio.sleep(0.2)
        targets = [bench.random.choice(recipients)[0] for _ in range(args.messages)]
        answered, seconds = await bench.send_all(http, senders, targets)
        await bench.delivered(inbox, answered)
        (out_dir / "stop").write_text("1")
        result = bench.figures(inbox, answered, seconds)
        print(f"profile: client figures {result}", flush=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    while not (out_dir / "dumped").exists():
        await asyncio.sleep(0.1)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--api"]:
        return api_main(Path(argv[1]), argv[2:])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)

    from loadtests import bench_communication as bench
    from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment

    database = f"lyceum_profile_communication_{os.getpid()}"
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-profile-var-"))
    out_dir = var_dir / "profile"
    out_dir.mkdir()
    broker_url, own_vhost = isolated_broker_url(database)
    use_environment(
        var_dir,
        broker_url,
        database,
        LMS_REDIS_URL="redis://127.0.0.1:6379/0",
        LMS_RATE_LIMIT_PREFIX=f"profile-{uuid.uuid4().hex[:8]}:",
    )
    api, figures, client = None, {}, {}
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{database}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import Process, free_port

        upgrade(get_settings())
        _course, people = bench.make_people(args.senders + args.clients)
        port = free_port()
        api = Process(
            [
                sys.executable,
                "-m",
                "loadtests.profile_communication",
                "--api",
                str(out_dir),
                "serve",
                "--port",
                str(port),
            ]
        )
        api.wait_for("Running on")
        client = asyncio.run(drive(args, f"http://127.0.0.1:{port}", people, out_dir))
        figures = report(out_dir, client["messages"], args.top)
    finally:
        if api is not None:
            api.stop()
        release(database, database, own_vhost, var_dir)
    print(
        json.dumps(
            {
                **figures,
                "client": client,
                "loadavg_before": load_before,
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
