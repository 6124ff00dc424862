"""Catalog page throughput: the 20-card `courses` query against `{ __typename }`, same run.

    .venv/bin/python -m loadtests.bench_catalog [--seconds 10] [--clients 4] [--courses 20]
    .venv/bin/python -m loadtests.bench_catalog --url http://127.0.0.1:8000 [--no-seed]

Without `--url` it creates its own PostgreSQL database (LMS_TEST_PG_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it, seeds `--courses` published
courses (3 modules of 4 lessons each, an instructor, tags, a cover), starts `lms serve` on a
free port, measures, stops the server and drops the database.

With `--url` it measures a running API. Seeding then writes to the database named by
LMS_DATABASE_URL, which must be the one that API uses; `--no-seed` measures the first
`--courses` published courses already there instead.

Each phase runs `--clients` concurrent HTTP/1.1 keep-alive clients (httpx, one asyncio
loop in this process) for `--seconds` after a one-second warm-up:

- baseline: `{ __typename }` — the whole HTTP + GraphQL stack with no resolver work;
- catalog: one page of `--courses` cards, each with price, cover, instructors, counts,
  and its modules with their lessons (what the issue's catalog page shows).

The ratio catalog/baseline is what the catalog costs on top of the stack; both are
measured on the same server in the same run, so the machine's speed cancels out. The
client shares the machine's cores with the server: compare ratios, not absolute rates,
across machines. Every response is checked (status 200, no `errors`); nothing is
asserted; the last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_catalog.py`
    sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get(
    "LMS_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBIT_URL = os.environ.get("LMS_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
BENCH_DB = f"lyceum_bench_catalog_{os.getpid()}"
WARM_UP_SECONDS = 1.0

BASELINE = "{ __typename }"
CATALOG = """query Catalog($f: CourseFilter, $first: Int) {
  courses(filter: $f, pagination: {first: $first}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id slug title priceAmount currency isFree averageRating enrollmentCount difficulty tags
      coverImage { variants { width format storageKey } }
      instructors { userId name }
      moduleCount lessonCount totalDurationSeconds
      modules { id title lessons { id title type durationSeconds isFreePreview } }
    } }
  }
}"""


class BenchAborted(Exception):
    """The run cannot go on (server did not start, a request failed)."""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(round(fraction * len(ordered) + 0.4999)))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


def own_environment(var_dir: Path) -> None:
    """LMS_* for this process and the server it starts; set before any `lms` import reads it."""
    os.environ.update(
        {
            "LMS_ENV": "test",
            "LMS_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{BENCH_DB}",
            "LMS_BROKER_URL": RABBIT_URL,
            "LMS_VAR_DIR": str(var_dir),
            "LMS_EMAIL_URL": f"outbox:{var_dir / 'outbox'}",
            "LMS_SECRET_KEY": "bench-secret-" + uuid.uuid4().hex,
        }
    )
    for name in ("LMS_REDIS_URL", "LMS_STORAGE_URL", "LMS_DEBUG"):
        os.environ.pop(name, None)


def seed(count: int) -> str:
    """`count` published courses in a category of their own; returns the category."""
    from lms.db import session_scope
    from lms.users.models import Role, User
    from tests.courses.seed import seed_courses

    with session_scope() as session:
        owner = User(
            email=f"bench-{uuid.uuid4().hex[:10]}@example.test",
            name="Bench Instructor",
            role=Role.EDUCATOR,
        )
        session.add(owner)
        session.flush()
        owner_id = owner.id
    category = f"bench-{uuid.uuid4().hex[:8]}"
    seed_courses(owner_id, count, modules=3, lessons=4, category=category)
    return category


class Server:
    """`lms serve` as a child process; `start` returns once it accepts requests."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "lyceum.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)
            if "Running on" in line:
                self._ready.set()
        self._ready.set()  # exited: wake the waiter

    def wait_ready(self, timeout: float = 60) -> None:
        if not self._ready.wait(timeout) or self.popen.poll() is not None:
            raise BenchAborted("lms serve did not start:\n" + "".join(self.lines[-30:]))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


async def phase(url: str, body: dict, clients: int, seconds: float, check) -> dict:
    """`clients` loops posting `body` for `seconds` (after a warm-up); rate and latencies."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        latencies: list[float] = []
        recording = False
        stop_at = 0.0

        async def client() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await http.post("/graphql", json=body)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise BenchAborted(f"HTTP {response.status_code}: {response.text[:300]}")
                check(response.json())
                if recording:
                    latencies.append(elapsed)

        stop_at = time.perf_counter() + WARM_UP_SECONDS
        await asyncio.gather(*(client() for _ in range(clients)))
        recording = True
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "seconds": round(wall, 3),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def run(url: str, category: str | None, args: argparse.Namespace) -> dict:
    filter = {"category": category} if category else {}
    expected = args.courses

    def check_baseline(body: dict) -> None:
        if body.get("errors") or body.get("data") != {"__typename": "Query"}:
            raise BenchAborted(f"baseline answered {str(body)[:300]}")

    def check_catalog(body: dict) -> None:
        if body.get("errors"):
            raise BenchAborted(f"catalog query failed: {body['errors'][:2]}")
        edges = body["data"]["courses"]["edges"]
        if len(edges) != expected:
            raise BenchAborted(f"catalog page has {len(edges)} courses, expected {expected}")

    catalog_body = {"query": CATALOG, "variables": {"f": filter, "first": args.courses}}
    baseline = asyncio.run(
        phase(url, {"query": BASELINE}, args.clients, args.seconds, check_baseline)
    )
    catalog = asyncio.run(phase(url, catalog_body, args.clients, args.seconds, check_catalog))
    return {"baseline": baseline, "catalog": catalog}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", help="a running API (default: start one on a free port)")
    parser.add_argument(
        "--no-seed", action="store_true", help="with --url: use published courses already there"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured seconds per phase (default 10)"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument(
        "--courses", type=int, default=20, help="courses on the page (default 20, at most 100)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.courses <= 100:
        parser.error("--courses is 1..100 (the API's page size limit)")

    server = None
    own_database = args.url is None
    try:
        if own_database:
            own_environment(Path(tempfile.mkdtemp(prefix="lyceum-bench-catalog-")))
            admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
            from lms.migrate import upgrade

            upgrade()
        category = None if args.no_seed else seed(args.courses)
        if own_database:
            server = Server(free_port())
            server.wait_ready()
        url = args.url or server.url
        print(
            f"bench_catalog: {url}, {args.clients} clients, {args.seconds:g} s per phase, "
            f"{args.courses} courses × 3 modules × 4 lessons",
            flush=True,
        )
        figures = run(url, category, args)
    except BenchAborted as error:
        print(f"bench_catalog: aborted: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if own_database:
            from lms.db import sync_sessionmaker

            sync_sessionmaker().kw["bind"].dispose()
            admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')

    baseline, catalog = figures["baseline"], figures["catalog"]
    ratio = catalog["rps"] / baseline["rps"] if baseline["rps"] else 0.0
    for name, result in (
        ("baseline { __typename }", baseline),
        (f"catalog ({args.courses} cards)", catalog),
    ):
        print(
            f"  {name:<26} {result['rps']:>8.1f} req/s   p50 {result['p50_ms']:.1f} ms   "
            f"p95 {result['p95_ms']:.1f} ms   p99 {result['p99_ms']:.1f} ms   "
            f"({result['requests']} requests)"
        )
    print(f"  catalog / baseline throughput: {ratio:.3f}")
    print(
        json.dumps(
            {
                "bench": "catalog",
                "url": args.url or "own server",
                "clients": args.clients,
                "seconds": args.seconds,
                "courses": args.courses,
                "modules_per_course": 3,
                "lessons_per_module": 4,
                "baseline": baseline,
                "catalog": catalog,
                "ratio": round(ratio, 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
