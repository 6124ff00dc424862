"""Where one GraphQL request's time goes: cProfile and SQL statement counts per operation.

    .venv/bin/python -m loadtests.profile_requests [--requests 200] [--top 25] [--only NAME]
        [--tracing [--rounds 3]]

Runs the real ASGI app (`web.app.create_app`, what `lms serve` serves) in this process on a
PostgreSQL database and RabbitMQ vhost of its own, and sends it HTTP requests through the
ASGI interface one at a time (no server, no client: what is left is the shell's own cost
and the domain's). Operations: the uncached catalog page (anonymous `courses`, 20 cards,
the scenario of `run_catalog_load.py`), one course's page (anonymous `course(id)`, the
same scenario's), an authenticated cheap read (`quiz(id)`), an authenticated cheap
mutation (`submitQuizAnswer`), `startQuizAttempt` and `submitQuiz` (20 saved answers
graded; each student starts and submits once) and `sendMessage`.

For each it prints wall and CPU ms per request, SQL statements per request (counted with
SQLAlchemy's `before_cursor_execute` on every engine of the process, so a job stamped
published by the publisher thread counts too), the sessions that began a transaction per
request (`after_begin`), own time by package, the statements of one request, and with `-v`
the top functions by own and cumulative time. With `--tracing` the process exports its
spans over OTLP/HTTP to a collector stand-in in this process (bench_observability's), as
`lms serve` does with `LMS_OTEL_ENDPOINT` set; `cpu_ms_per_request` then includes the
exporter thread, `main_cpu_ms_per_request` is the request loop's thread alone, and
`tracing_cpu_ms` has the CPU per request with tracing switched off and on in turn in this
process (`--rounds` on runs, each between two off runs), and the extra CPU tracing costs.
Nothing is asserted; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.environment import isolated_broker_url, release, use_environment  # noqa: E402

BENCH_DB = f"lyceum_profile_requests_{os.getpid()}"
BENCH_VHOST = BENCH_DB


class Counter:
    """SQL statements and sessions opened, counted on every engine of this process."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.orm import Session

        self.statements = 0
        self.sessions = 0
        self.texts: list[str] = []
        self.keep = False

        def on_statement(_conn, _cursor, statement, *_rest) -> None:
            self.statements += 1
            if self.keep:
                self.texts.append(" ".join(statement.split())[:160])

        def on_begin(_session, _transaction, _connection) -> None:
            self.sessions += 1

        event.listen(Engine, "before_cursor_execute", on_statement)
        event.listen(Session, "after_begin", on_begin)


async def asgi_post(app, body: dict, token: str | None = None) -> tuple[int, dict]:
    """One POST /graphql through the ASGI interface."""
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"host", b"profile.test")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
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
            return {"type": "http.request", "body": raw, "more_body": False}
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
    return status, json.loads(b"".join(chunks))


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time summed per top-level package (graphql, sqlalchemy, psycopg, asyncio, web...)."""
    totals: dict[str, float] = {}
    for (filename, _line, function), row in stats.stats.items():
        tottime = row[2]
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif str(ROOT) in filename:
            package = "ours:" + filename.split(str(ROOT) + "/", 1)[1].split("/", 1)[0]
        elif filename == "~":
            package = "builtins:" + function.split(" ")[-1][:20]
        else:
            package = "stdlib:" + Path(filename).stem
        totals[package] = totals.get(package, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: -kv[1])[:18]


def seed(takers: int) -> dict:
    """20+ catalog courses, a quiz with 20 questions and its students, two classmates.
    Of the students, `takers` start an attempt each (`startQuizAttempt`), and as many have
    an attempt in progress with 20 saved answers, each submitted once (`submitQuiz`)."""
    from uuid import UUID

    from loadtests.bench_assessments import plant_expiring
    from loadtests.bench_assessments import setup as quiz_setup
    from loadtests.bench_communication import make_people
    from loadtests.run_catalog_load import seed as catalog_seed

    catalog = catalog_seed(40)
    quiz = quiz_setup(1 + 2 * takers, 0)
    submitters = quiz["taker_ids"][1 + takers :]
    plant_expiring(UUID(quiz["taken"]), submitters, 3600)  # deadlines an hour away
    _course, people = make_people(2)
    return {"catalog": catalog, "quiz": quiz, "people": people}


async def profile(args, fixture: dict) -> dict:
    from loadtests.bench_assessments import ANSWER, BASELINE, START, SUBMIT
    from loadtests.bench_communication import SEND
    from loadtests.run_catalog_load import COURSE, COURSES
    from web.app import create_app

    counter = Counter()
    app = create_app()
    await app.quart.startup()
    try:
        quiz = fixture["quiz"]
        token = quiz["takers"][0]
        status, started = await asgi_post(
            app, {"query": START, "variables": {"q": quiz["taken"]}}, token
        )
        attempt = started["data"]["startQuizAttempt"]
        question = attempt["questions"][0]
        versions = {"v": 0}

        def answer_body() -> dict:
            versions["v"] += 1
            return {
                "query": ANSWER,
                "variables": {
                    "s": attempt["id"],
                    "i": {
                        "questionId": question["id"],
                        "selectedOptionIds": [question["options"][versions["v"] % 2]["id"]],
                        "version": versions["v"] - 1,
                    },
                },
            }

        starters = iter(quiz["takers"][1 : 1 + len(quiz["takers"]) // 2])
        submitters = iter(
            zip(
                quiz["takers"][1 + len(quiz["takers"]) // 2 :],
                await planted_attempts(quiz["taker_ids"][1 + len(quiz["takers"]) // 2 :]),
                strict=True,
            )
        )

        def submit_body() -> tuple[dict, str]:
            who, attempt_id = next(submitters)
            return {"query": SUBMIT, "variables": {"s": attempt_id}}, who

        (sender, sender_token), (recipient, _) = fixture["people"]
        operations = {
            "catalog_courses_anonymous": lambda: (
                {"query": COURSES, "variables": {"sort": "NEWEST", "first": 20}},
                None,
            ),
            "catalog_course_anonymous": lambda: (
                {"query": COURSE, "variables": {"id": fixture["catalog"]["ids"][0]}},
                None,
            ),
            "quiz_read": lambda: ({"query": BASELINE, "variables": {"q": quiz["taken"]}}, token),
            "submitQuizAnswer": lambda: (answer_body(), token),
            "startQuizAttempt": lambda: (
                {"query": START, "variables": {"q": quiz["taken"]}},
                next(starters),
            ),
            "submitQuiz": submit_body,
            "sendMessage": lambda: ({"query": SEND, "variables": {"r": recipient}}, sender_token),
        }
        results = {}
        for name, make in operations.items():
            if args.only and name not in args.only.split(","):
                continue
            for _ in range(5):  # warm caches (parse, validate, pool)
                body, who = make()
                status, answer = await asgi_post(app, body, who)
                if status != 200 or answer.get("errors"):
                    raise SystemExit(f"{name}: {status} {answer}")
            counter.statements = counter.sessions = 0
            counter.texts, counter.keep = [], True
            body, who = make()
            await asgi_post(app, body, who)
            counter.keep = False
            statements_one = list(counter.texts)
            counter.statements = counter.sessions = 0
            profiler = cProfile.Profile()
            began = time.perf_counter()
            profiler.enable()
            for _ in range(args.requests):
                body, who = make()
                await asgi_post(app, body, who)
            profiler.disable()
            wall = (time.perf_counter() - began) * 1000 / args.requests
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
            stats.print_stats(args.top)
            out.write("\n--- by cumulative time\n")
            stats.sort_stats("cumulative").print_stats(args.top)
            print(f"\n===== {name}", flush=True)
            print(out.getvalue()[-12000:] if args.verbose else "", end="")
            print("own time by package (share of the profiled total):")
            for package, share in by_package(stats):
                print(f"    {package:<24} {share:5.1%}")
            print("statements of one request:")
            for text in statements_one:
                print("   ", text)
            results[name] = {
                "wall_ms_per_request_profiled": round(wall, 2),
                "sql_per_request": round(counter.statements / args.requests, 2),
                "sessions_per_request": round(counter.sessions / args.requests, 2),
            }
            print(name, results[name], flush=True)
        # The same again without the profiler: the wall time a request costs here.
        for name, make in operations.items():
            if name in results:
                results[name].update(await measure(app, make, args.requests))
        if args.tracing:  # off and on alternating, in this one process
            for name, make in operations.items():
                if name in results:
                    results[name]["tracing_cpu_ms"] = await alternate(app, make, args)
        return results
    finally:
        await app.quart.shutdown()


async def planted_attempts(students: list) -> list[str]:
    """The ids of the attempts in progress of `students`, in their order."""
    from sqlalchemy import select

    from lms.assessments.models import QuizAttempt
    from lms.db import session_scope

    with session_scope() as session:
        rows = session.execute(
            select(QuizAttempt.student_id, QuizAttempt.id).where(
                QuizAttempt.student_id.in_(students)
            )
        )
        by_student = {student: str(attempt) for student, attempt in rows}
    return [by_student[student] for student in students]


async def measure(app, make, requests: int) -> dict:
    """Wall and CPU ms per request over `requests` requests (CPU of every thread, the
    exporter's included, and of the request loop's thread alone)."""
    began, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(requests):
        body, who = make()
        await asgi_post(app, body, who)
    main_cpu = time.thread_time() - main_cpu
    flush_traces()  # the spans of these requests exported, inside the CPU measured
    return {
        "wall_ms_per_request": round((time.perf_counter() - began) * 1000 / requests, 2),
        "cpu_ms_per_request": round((time.process_time() - cpu) * 1000 / requests, 2),
        "main_cpu_ms_per_request": round(main_cpu * 1000 / requests, 2),
    }


async def alternate(app, make, args) -> dict:
    """CPU ms per request with tracing switched off and on in turn (off first and last),
    `--rounds` times: the same process, engines and caches, so the difference is tracing's.
    Off means what `LMS_OTEL_ENDPOINT` unset gives: no operation span, hence no SQL span."""
    from lms.observability import tracing

    runs: list[float] = []
    for variant in ["off"] + ["on", "off"] * args.rounds:
        tracing._enabled = variant == "on"  # the switch `init_tracing` sets
        runs.append((await measure(app, make, args.requests))["cpu_ms_per_request"])
    tracing._enabled = True
    # Each on run against the mean of the off runs beside it: a drift of the machine's
    # load during the run cancels out; the median of the rounds.
    extra = [runs[i] / ((runs[i - 1] + runs[i + 1]) / 2) - 1 for i in range(1, len(runs), 2)]
    off = statistics.median(runs[0::2])
    return {
        "off": runs[0::2],
        "on": runs[1::2],
        "extra_ms": round(statistics.median(extra) * off, 2),
        "extra": round(statistics.median(extra), 3),
        "extra_rounds": [round(value, 3) for value in extra],
    }


def flush_traces() -> None:
    from lms.observability.tracing import flush

    flush(10_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default="", help="comma-separated operation names")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the profiles")
    parser.add_argument("--tracing", action="store_true", help="export spans to a collector")
    parser.add_argument("--rounds", type=int, default=3, help="with --tracing: on runs")
    args = parser.parse_args(argv)
    load_before = Path("/proc/loadavg").read_text().strip()
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-profile-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(var_dir, broker_url, BENCH_DB, LMS_RESPONSE_CACHE="false")
    from loadtests.environment import admin_sql

    collector = None
    if args.tracing:  # before the first engine is built: its statements are traced too
        from loadtests.bench_observability import Collector

        collector = Collector()
        os.environ["LMS_OTEL_ENDPOINT"] = collector.endpoint
    else:
        os.environ.pop("LMS_OTEL_ENDPOINT", None)
    try:
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from lms.observability.tracing import init_tracing

        init_tracing(get_settings(), "api")
        upgrade(get_settings())
        runs = 2 + (2 * args.rounds + 1 if args.tracing else 0)  # profiled, measured, traced
        fixture = seed(6 + args.requests * runs)
        results = asyncio.run(profile(args, fixture))
    finally:
        flush_traces()
        if collector is not None:
            collector.close()
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)
    results["tracing"] = args.tracing
    if collector is not None:
        results["span_batches"] = collector.counts["requests"]
    results["requests"] = args.requests
    results["loadavg_before"] = load_before
    results["loadavg_after"] = Path("/proc/loadavg").read_text().strip()
    results["run"] = uuid.uuid4().hex[:8]
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
