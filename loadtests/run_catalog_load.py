"""Catalog browsing under load: GraphQL (with and without the response cache) against a
plain Quart JSON route doing the same database reads, in one run; prints one JSON line.

    .venv/bin/python -m loadtests.run_catalog_load [--duration 20] [--users 50] [--no-cache]

It creates its own PostgreSQL database (LMS_TEST_PG_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres) and, when `rabbitmqctl` can, its own
RabbitMQ vhost; migrates; seeds `--courses` (1,000) published courses by bulk inserts
through the models (3 modules × 4 lessons each, an owner among 20 instructors, 2 tags, a
cover); then, one server at a time on a free loopback port:

- `graphql`: `lms serve` (hypercorn), the response cache on (the default);
- `graphql-nocache`: the same with LMS_RESPONSE_CACHE=false;
- `plain`: `loadtests/plain_catalog_app.py` (hypercorn), the same reads, no GraphQL.

Before measuring, the three answers (the NEWEST page, one course by id, one by slug) are
checked to carry the same data on every server. Each server gets two locust phases
(`loadtests/locust_catalog.py`, headless, `--users` visitors, `--duration` seconds each):

- browse: think time 0.5–1.5 s per visitor (a browsing pace, about `users` req/s): the
  latency target, p95 < 50 ms at 50 users, is read here;
- saturate: no think time: the throughput target, GraphQL ≥ half the plain route's
  requests/s with the same request mix, is read here (latencies there are queueing).

locust shares the two cores with the server: absolute rates are machine-bound; compare
ratios. Server CPU time per request (from /proc) is reported too. The caches start cold
(browse) and the random `course(id)`/`courseBySlug` picks over 1,000 courses make a long
tail of misses; X-Cache outcomes are counted by the scenario and reported per phase.
Everything is cleaned up (servers, database, vhost, temp dir). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/run_catalog_load.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import (  # noqa: E402
    admin_sql,
    isolated_broker_url,
    rabbitmqctl,
    use_environment,
    wait_until_healthy,
)

SCENARIO = Path(__file__).resolve().parent / "locust_catalog.py"
BENCH_DB = f"lyceum_bench_catalog_load_{os.getpid()}"
BENCH_VHOST = f"lyceum_bench_catalog_load_{os.getpid()}"
INSTRUCTORS, MODULES, LESSONS = 20, 3, 4
OPERATIONS = ("courses", "course(id)", "courseBySlug")
P95_TARGET_MS, RATIO_TARGET = 50.0, 0.5

# The scenario's GraphQL documents (`locust_catalog.py` imports them from here: this module
# imports nothing heavy at the top, and locust must not be imported in this process).
CARD = """id slug title priceAmount currency isFree averageRating enrollmentCount difficulty tags
  coverImage { variants { width format storageKey } }
  instructors { userId name role }
  moduleCount lessonCount totalDurationSeconds
  modules { id title position lessons { id title type durationSeconds isFreePreview } }"""
DETAIL = CARD.replace("id slug title ", "id slug title description ", 1)
COURSES = (
    "query Courses($sort: CourseSort, $first: Int) {\n"
    "  courses(filter: {sort: $sort}, pagination: {first: $first}) {\n"
    "    totalCount pageInfo { hasNextPage endCursor }\n"
    "    edges { node { " + CARD + " } }\n  }\n}"
)
COURSE = "query Course($id: ID!) { course(id: $id) { " + DETAIL + " } }"
COURSE_BY_SLUG = (
    "query CourseBySlug($slug: String!) { courseBySlug(slug: $slug) { " + DETAIL + " } }"
)


class BenchAborted(Exception):
    """The run cannot go on; everything is cleaned up."""


# environment ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# seeding ----------------------------------------------------------------------------------


def seed(count: int) -> dict:
    """`count` published courses by bulk inserts; returns their ids and slugs."""
    from sqlalchemy import insert

    from lms.courses.models import (
        Course,
        CourseInstructor,
        CourseModule,
        CourseStatus,
        CourseTag,
        CoverStatus,
        Difficulty,
        InstructorRole,
        Lesson,
        LessonType,
    )
    from lms.db import session_scope
    from lms.models import new_id, utcnow
    from lms.users.models import Role, User

    now = utcnow()
    users = [
        {
            "id": new_id(),
            "email": f"teacher-{n}@bench.example",
            "name": f"Teacher {n}",
            "role": Role.EDUCATOR,
        }
        for n in range(INSTRUCTORS)
    ]
    courses, instructors, tags, modules, lessons = [], [], [], [], []
    for n in range(count):
        course_id, owner = new_id(), users[n % INSTRUCTORS]["id"]
        courses.append(
            {
                "id": course_id,
                "slug": f"course-{n}-{course_id.hex[:6]}",
                "title": f"Course {n}: practical topic {n % 37}",
                "description": "<p>A complete, hands-on course with a project per module.</p>",
                "category": f"category-{n % 12}",
                "difficulty": list(Difficulty)[n % 3],
                "language": "en",
                "status": CourseStatus.PUBLISHED,
                "price_amount": (n % 4) * 1000,
                "currency": "USD",
                "owner_id": owner,
                "cover_status": CoverStatus.READY,
                "cover_version": 1,
                "cover_variants": [
                    {
                        "width": 640,
                        "height": 360,
                        "format": "webp",
                        "key": f"courses/{course_id}/cover/v1/cover-640.webp",
                    }
                ],
                "enrollment_count": n * 7 % 500,
                "rating_average": (n % 5) + 0.5,
                "rating_count": n % 5,
                "created_at": now - timedelta(minutes=n),
                "updated_at": now,
                "published_at": now,
            }
        )
        instructors.append(
            {
                "course_id": course_id,
                "user_id": owner,
                "role": InstructorRole.OWNER,
                "added_at": now,
            }
        )
        tags += [
            {"course_id": course_id, "tag": "python"},
            {"course_id": course_id, "tag": f"level-{n % 3}"},
        ]
        for m in range(MODULES):
            module_id = new_id()
            modules.append(
                {
                    "id": module_id,
                    "course_id": course_id,
                    "title": f"Module {m + 1}",
                    "description": "",
                    "position": m,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            lessons += [
                {
                    "id": new_id(),
                    "module_id": module_id,
                    "course_id": course_id,
                    "title": f"Lesson {m + 1}.{x + 1}",
                    "type": LessonType.TEXT,
                    "content": "<p>Read me.</p>",
                    "video_asset_id": None,
                    "duration_seconds": 300,
                    "is_free_preview": x == 0,
                    "requires_previous": x > 0,
                    "position": x,
                    "created_at": now,
                    "updated_at": now,
                }
                for x in range(LESSONS)
            ]
    with session_scope() as session:
        for model, rows in (
            (User, users),
            (Course, courses),
            (CourseInstructor, instructors),
            (CourseTag, tags),
            (CourseModule, modules),
            (Lesson, lessons),
        ):
            for start in range(0, len(rows), 2000):
                session.execute(insert(model), rows[start : start + 2000])
    return {"ids": [str(c["id"]) for c in courses], "slugs": [c["slug"] for c in courses]}


# servers ----------------------------------------------------------------------------------


class Server:
    """A child process serving HTTP on a free loopback port; `/healthz` answers when ready."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_handle = open(log, "w")
        self.popen = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        if not wait_until_healthy(self.url, timeout, alive=lambda: self.popen.poll() is None):
            raise BenchAborted(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_handle.close()


def start(variant: str, workdir: Path) -> Server:
    env = dict(os.environ)
    if variant == "plain":
        command = [sys.executable, "-m", "loadtests.plain_catalog_app"]
    else:
        command = [sys.executable, "-m", "lyceum.cli", "serve"]
        env["LMS_RESPONSE_CACHE"] = "false" if variant == "graphql-nocache" else "true"
    server = Server(variant, command, env, workdir / f"{variant}.log")
    server.wait_ready()
    return server


# same data on every server ------------------------------------------------------------------


def fetch(server: Server, variant: str, fixture: dict) -> list[dict]:
    """The three answers' `data`, as the scenario asks for them."""

    def get(path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            server.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        if answer.get("errors") or "data" not in answer:
            raise BenchAborted(f"{variant} answered {str(answer)[:500]}")
        return answer["data"]

    course_id, slug = fixture["ids"][0], fixture["slugs"][0]
    if variant == "plain":
        return [
            get("/plain/courses?sort=NEWEST&first=20"),
            get(f"/plain/course/{course_id}"),
            get(f"/plain/course-by-slug/{slug}"),
        ]
    return [
        get("/graphql", {"query": COURSES, "variables": {"sort": "NEWEST", "first": 20}}),
        get("/graphql", {"query": COURSE, "variables": {"id": course_id}}),
        get("/graphql", {"query": COURSE_BY_SLUG, "variables": {"slug": slug}}),
    ]


# locust -----------------------------------------------------------------------------------


def stats(row: dict) -> dict:
    def number(key: str) -> float | None:
        value = row.get(key, "N/A")
        return None if value in ("N/A", "") else float(value)

    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": round(float(row["Requests/s"]), 1),
        "p50_ms": number("50%"),
        "p95_ms": number("95%"),
        "p99_ms": number("99%"),
    }


def run_locust(
    server: Server, variant: str, phase: str, args, fixture_path: Path, workdir: Path
) -> dict:
    prefix = workdir / f"{variant}-{phase}"
    outcomes_file = workdir / f"{variant}-{phase}-xcache.json"
    wait = (args.wait_min, args.wait_max) if phase == "browse" else (0.0, 0.0)
    env = {
        **os.environ,
        "CATALOG_FIXTURE": str(fixture_path),
        "CATALOG_TARGET": "plain" if variant == "plain" else "graphql",
        "CATALOG_WAIT_MIN": str(wait[0]),
        "CATALOG_WAIT_MAX": str(wait[1]),
        "CATALOG_XCACHE_OUT": str(outcomes_file),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(SCENARIO),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.users),
        "-t",
        f"{args.duration}s",
        "--host",
        server.url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--reset-stats",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    cpu_before = server.cpu_seconds()
    log = open(workdir / f"{variant}-{phase}-locust.log", "w")
    try:
        subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            timeout=args.duration + 90,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    except subprocess.TimeoutExpired:
        raise BenchAborted(f"locust did not finish ({variant}, {phase})") from None
    finally:
        log.close()
    cpu = server.cpu_seconds() - cpu_before
    try:
        with open(f"{prefix}_stats.csv", newline="") as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
    except FileNotFoundError:
        raise BenchAborted(
            f"locust wrote no stats ({variant}, {phase}):\n"
            + (workdir / f"{variant}-{phase}-locust.log").read_text()[-3000:]
        ) from None
    result = {name: stats(rows[name]) for name in OPERATIONS if name in rows}
    result["all"] = stats(rows["Aggregated"])
    requests = result["all"]["requests"]
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / requests, 2) if requests else None
    if outcomes_file.exists() and variant != "plain":
        result["x_cache"] = json.loads(outcomes_file.read_text())
    return result


# report -----------------------------------------------------------------------------------


def print_table(results: dict) -> None:
    header = (
        f"{'server':<16} {'phase':<9} {'operation':<13} {'req/s':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'fail':>5}  server CPU/req, X-Cache"
    )
    print(header)
    print("-" * len(header))
    for variant, phases in results.items():
        for phase, figures in phases.items():
            for name in (*OPERATIONS, "all"):
                row = figures.get(name)
                if row is None:
                    continue

                def cell(value: float | None) -> str:
                    return f"{'-':>7}" if value is None else f"{value:>7.0f}"

                extra = ""
                if name == "all":
                    extra = f"  {figures['server_cpu_ms_per_request']} ms"
                    if figures.get("x_cache"):
                        extra += "  " + " ".join(
                            f"{k}={v}" for k, v in sorted(figures["x_cache"].items())
                        )
                print(
                    f"{variant:<16} {phase:<9} {name:<13} {row['rps']:>8.1f} {cell(row['p50_ms'])} "
                    f"{cell(row['p95_ms'])} {cell(row['p99_ms'])} {row['failures']:>5}{extra}"
                )


def verdicts(results: dict) -> dict:
    plain = results.get("plain", {}).get("saturate", {}).get("all", {}).get("rps")
    out: dict = {}
    for variant in ("graphql", "graphql-nocache"):
        if variant not in results:
            continue
        browse = results[variant].get("browse", {})
        worst = (
            max((browse[name]["p95_ms"] or 0) for name in OPERATIONS if name in browse)
            if browse
            else None
        )
        rps = results[variant].get("saturate", {}).get("all", {}).get("rps")
        ratio = round(rps / plain, 3) if rps and plain else None
        out[variant] = {
            "browse_p95_ms": browse.get("all", {}).get("p95_ms"),
            "browse_worst_operation_p95_ms": worst,
            "p95_target_met": worst is not None and worst < P95_TARGET_MS,
            "throughput_ratio_to_plain": ratio,
            "ratio_target_met": ratio is not None and ratio >= RATIO_TARGET,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--duration", type=int, default=20, help="seconds per locust phase (5..120)"
    )
    parser.add_argument("--users", type=int, default=50, help="concurrent visitors (default 50)")
    parser.add_argument("--courses", type=int, default=1000, help="published courses to seed")
    parser.add_argument("--wait-min", type=float, default=0.5, help="browse think time, min s")
    parser.add_argument("--wait-max", type=float, default=1.5, help="browse think time, max s")
    parser.add_argument("--no-cache", action="store_true", help="skip the cached GraphQL server")
    parser.add_argument(
        "--phases", default="browse,saturate", help="comma-separated: browse, saturate"
    )
    args = parser.parse_args(argv)
    args.duration = max(5, min(args.duration, 120))
    phases = [p for p in args.phases.split(",") if p in ("browse", "saturate")]
    variants = (["graphql"] if not args.no_cache else []) + ["graphql-nocache", "plain"]

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="lyceum-catalog-load-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(workdir / "var", broker_url, BENCH_DB)
    results: dict[str, dict] = {}
    server: Server | None = None
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade

        upgrade(get_settings())
        seeded = time.monotonic()
        fixture = seed(args.courses)
        fixture_path = workdir / "fixture.json"
        fixture_path.write_text(json.dumps(fixture))
        print(
            f"catalog load: database {BENCH_DB}, {args.courses} courses seeded in "
            f"{time.monotonic() - seeded:.1f} s; {args.users} users, {args.duration} s per phase, "
            f"phases {', '.join(phases)}; servers {', '.join(variants)}",
            flush=True,
        )
        reference = None
        for variant in variants:
            server = start(variant, workdir)
            answers = fetch(server, variant, fixture)
            if reference is None:
                reference = answers
            elif answers != reference:
                raise BenchAborted(f"{variant} does not answer the same data as {variants[0]}")
            results[variant] = {}
            for phase in phases:
                results[variant][phase] = run_locust(
                    server, variant, phase, args, fixture_path, workdir
                )
                print(f"catalog load: {variant} {phase} done", flush=True)
            server.stop()
            server = None
    except BenchAborted as error:
        print(f"catalog load: aborted: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if "lms.db" in sys.modules:
            from lms.db import sync_sessionmaker

            sync_sessionmaker().kw["bind"].dispose()
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        if own_vhost:
            rabbitmqctl("delete_vhost", BENCH_VHOST)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print_table(results)
    summary = verdicts(results)
    print()
    for variant, verdict in summary.items():
        print(
            f"{variant}: worst browse p95 {verdict['browse_worst_operation_p95_ms']} ms "
            f"(target < {P95_TARGET_MS:g}: {'met' if verdict['p95_target_met'] else 'NOT met'}); "
            f"saturation throughput {verdict['throughput_ratio_to_plain']} × plain "
            f"(target ≥ {RATIO_TARGET}: {'met' if verdict['ratio_target_met'] else 'NOT met'})"
        )
    print(
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs; "
        f"run took {time.monotonic() - started:.0f} s"
    )
    print(
        json.dumps(
            {
                "bench": "catalog_load",
                "courses": args.courses,
                "users": args.users,
                "duration_s": args.duration,
                "browse_think_s": [args.wait_min, args.wait_max],
                "results": results,
                "targets": summary,
                # The headline figure: uncached GraphQL's saturation throughput
                # over the plain route's, same run (None without a saturate phase).
                "uncached_ratio_to_plain": summary.get("graphql-nocache", {}).get(
                    "throughput_ratio_to_plain"
                ),
                "load_avg_before": round(load_before, 2),
                "load_avg_after": round(os.getloadavg()[0], 2),
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
