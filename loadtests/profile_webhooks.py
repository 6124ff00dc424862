"""Where one Stripe webhook accept's time goes: cProfile, CPU and statements per POST.

    .venv/bin/python -m loadtests.profile_webhooks [--requests 500] [--top 30] [-v]

Runs the real ASGI app (`web.app.create_app`, what `lms serve` serves) in this process on a
PostgreSQL database and RabbitMQ vhost of its own and POSTs signed deliveries to
`/webhooks/stripe` through the ASGI interface one at a time (no server, no client: what is
left is the app's own cost). Beside it, in the same run, the baseline
`loadtests.bare_webhook_app`: a bare Quart route that does the same single INSERT with no
verification and nothing else, so the accept reads as a ratio too.

Counted per POST: CPU ms of this thread (`time.thread_time`) and, apart, of the payments
relay thread that records the handling jobs meanwhile (`relay_cpu_ms`; POSTs one at a time
make its batches small, so this is its worst case), SQL statements (`before_cursor_execute`
on every engine, the relay's included), SQLAlchemy's begins (logical under AUTOCOMMIT: no
BEGIN reaches the server) and commits, and pool checkouts. Nothing is asserted; the last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.environment import isolated_broker_url, release, use_environment  # noqa: E402
from loadtests.profile_requests import by_package  # noqa: E402

BENCH_DB = f"lyceum_profile_webhooks_{os.getpid()}"
BENCH_VHOST = BENCH_DB
SECRET = "whsec_profile_" + uuid.uuid4().hex


class Counter:
    """Statements, transactions and pool checkouts, on every engine of this process."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        self.counts = {"statements": 0, "begins": 0, "commits": 0, "checkouts": 0}
        self.texts: list[str] = []
        self.keep = False

        def bump(name):
            def listener(*args, **_kw) -> None:
                self.counts[name] += 1
                if name == "statements" and self.keep:
                    self.texts.append(" ".join(args[2].split())[:140])

            return listener

        event.listen(Engine, "before_cursor_execute", bump("statements"))
        event.listen(Engine, "begin", bump("begins"))
        event.listen(Engine, "commit", bump("commits"))
        event.listen(Pool, "checkout", bump("checkouts"))

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)


def relay_cpu_seconds() -> float:
    """CPU time of this process's payments relay thread so far (0 before it starts)."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "payments-relay" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def signed_delivery(duplicate_of: bytes | None = None) -> tuple[bytes, list[tuple]]:
    """A `checkout.session.completed` as Stripe sends it (or a re-send of one)."""
    import hashlib
    import hmac

    body = (
        duplicate_of
        or json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "object": "event",
                "type": "checkout.session.completed",
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": f"cs_profile_{uuid.uuid4().hex}",
                        "object": "checkout.session",
                        "client_reference_id": str(uuid.uuid4()),
                        "amount_total": 4900,
                        "currency": "usd",
                        "payment_status": "paid",
                        "status": "complete",
                    }
                },
            }
        ).encode()
    )
    moment = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    headers = [
        (b"content-type", b"application/json"),
        (b"host", b"profile.test"),
        (b"user-agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        (b"content-length", str(len(body)).encode()),
        (b"stripe-signature", f"t={moment},v1={digest}".encode()),
    ]
    return body, headers


async def asgi_post(app, path: str, body: bytes, headers: list[tuple]) -> tuple[int, bytes]:
    """One POST through the ASGI interface, as hypercorn would call the app."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }
    sent = False
    status, chunks = 0, []
    done = asyncio.Event()

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(app, path: str, args, counter: Counter, *, profile: bool) -> dict:
    """POST `args.requests` deliveries (30 % re-sends) one at a time; per-POST figures."""
    sent: list[bytes] = []
    for _ in range(20):  # warm: pool connections, compiled statements
        body, headers = signed_delivery()
        await asgi_post(app, path, body, headers)
        sent.append(body)
    counter.reset()
    counter.texts, counter.keep = [], True
    body, headers = signed_delivery()
    await asgi_post(app, path, body, headers)
    counter.keep = False
    one = list(counter.texts)
    deliveries = [
        signed_delivery(sent[n % len(sent)] if n % 10 < 3 else None) for n in range(args.requests)
    ]
    counter.reset()
    profiler = cProfile.Profile() if profile else None
    statuses: dict[int, int] = {}
    began, cpu, relay = time.perf_counter(), time.thread_time(), relay_cpu_seconds()
    if profiler:
        profiler.enable()
    for body, headers in deliveries:
        status, _ = await asgi_post(app, path, body, headers)
        statuses[status] = statuses.get(status, 0) + 1
    if profiler:
        profiler.disable()
    n = args.requests
    figures = {
        "wall_ms": round((time.perf_counter() - began) * 1000 / n, 3),
        "cpu_ms": round((time.thread_time() - cpu) * 1000 / n, 3),
        "relay_cpu_ms": round((relay_cpu_seconds() - relay) * 1000 / n, 3),
        **{k: round(v / n, 2) for k, v in counter.counts.items()},
        "statuses": statuses,
        "statements_of_one": one,
    }
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
        stats.print_stats(args.top)
        out.write("\n--- by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(args.top)
        if args.verbose:
            print(out.getvalue()[-16000:])
        print(f"own time by package, {path} (share of the profiled total):")
        for package, share in by_package(stats):
            print(f"    {package:<28} {share:5.1%}")
    return figures


async def profile(args) -> dict:
    from loadtests.bare_webhook_app import create_bare_app
    from web.app import create_app

    counter = Counter()
    app, bare = create_app(), create_bare_app()
    await app.quart.startup()
    await bare.startup()
    try:
        results = {}
        for name, target, path in (
            ("endpoint", app, "/webhooks/stripe"),
            ("bare", bare, "/bare/webhooks/stripe"),
        ):
            results[name + "_profiled"] = await measure(target, path, args, counter, profile=True)
            print(name, "profiled:", results[name + "_profiled"], flush=True)
        # Again without the profiler, alternating, so the machine's load hits both alike.
        for round_ in range(args.rounds):
            for name, target, path in (
                ("endpoint", app, "/webhooks/stripe"),
                ("bare", bare, "/bare/webhooks/stripe"),
            ):
                figures = await measure(target, path, args, counter, profile=False)
                figures.pop("statements_of_one")
                results.setdefault(name, []).append(figures)
                print(name, round_, figures, flush=True)
        cpu = {name: min(f["cpu_ms"] for f in results[name]) for name in ("endpoint", "bare")}
        results["cpu_ms_min"] = cpu
        results["cpu_ratio_to_bare"] = round(cpu["endpoint"] / cpu["bare"], 2)
        return results
    finally:
        await bare.shutdown()
        await app.quart.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--verbose", "-v", action="store_true", help="print the profiles")
    args = parser.parse_args(argv)
    load_before = Path("/proc/loadavg").read_text().strip()
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-profile-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(
        var_dir,
        broker_url,
        BENCH_DB,
        LMS_STRIPE_SECRET_KEY="sk_test_profile",
        LMS_STRIPE_WEBHOOK_SECRET=SECRET,
    )
    from loadtests.environment import admin_sql

    try:
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade

        upgrade(get_settings())
        results = asyncio.run(profile(args))
    finally:
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)
    results["requests"] = args.requests
    results["loadavg_before"] = load_before
    results["loadavg_after"] = Path("/proc/loadavg").read_text().strip()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
