"""Analytics rollups at scale: a full rollup by the job's function against one plain SQL
`GROUP BY` producing the same daily aggregates, an incremental rollup, and `courseAnalytics`
through the API, in the same run.

    .venv/bin/python loadtests/bench_analytics.py [--events 1000000] [--courses 1000]
        [--students 50000] [--incremental 10000] [--queries 300] [--template NAME]
        [--drop-template]

It creates its own PostgreSQL database and RabbitMQ vhost, migrates, makes `--courses`
published courses taught by one educator (ten lessons each) and generates `--events`
learning events in SQL over the last 90 days for `--students` students (each in about five
courses): video progress reports with positions, lesson completions, enrolments, graded
quizzes, quiz items, payments and forum posts, stored before the run starts.

- `raw_group_by_s`: the daily aggregates the rollup writes (per course, per student and
  course, per lesson, revenue, quiz items: the same SELECTs, `lms.analytics.aggregates`) as
  plain `CREATE TEMP TABLE … AS SELECT … GROUP BY`, no index, no second stage; with the
  rollup's session settings (JIT off, its `work_mem`).
- `rollup_s`: `lms.analytics.rollups.roll_up(full=True)`, what the scheduled job runs on
  its first pass: the same aggregates written to the rollup tables, plus per-student
  totals, video viewers and segments and badges, committed.
- `incremental_s`: after `VACUUM ANALYZE` (what autovacuum does before the next scheduled
  run), `--incremental` new events (one in ten a late one, days back) stored now, then one
  incremental run from the watermark (on PostgreSQL: their deltas added).
- `course_analytics_p95_ms`: `courseAnalytics` of random courses through `lms serve`, one
  request at a time, as the educator.

`--template NAME` keeps the generated database (events, courses, students; before any
rollup) as a PostgreSQL template named NAME: a later run with the same NAME and sizes
copies it instead of generating again (a minute or more at full scale). `--drop-template`
drops it at the end. Nothing is asserted; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.environment import (  # noqa: E402
    admin_sql,
    isolated_broker_url,
    release,
    use_environment,
    wait_until_healthy,
)

COURSE_ANALYTICS = """query($c: ID!) { courseAnalytics(courseId: $c) {
  students enrollments activeStudents funnel { enrolled started halfway completed }
  averageGrade gradeDistribution { grade students } revenue { currency net }
  daily { date activeStudents } lessons { lessonId videoDropOff } items { itemId difficulty }
  atRiskStudents { userId reasons { kind message } } } }"""

# One row per event: i picks the student, the course among the student's five, the verb
# (by i % 100), the lesson and the day. Progress grows with the day, positions walk a video.
_EVENTS = """
INSERT INTO learning_events (id, timestamp, stored_at, actor_id, verb, object_type,
    object_id, course_id, result, context, score, seconds, amount, currency, progress)
SELECT gen_random_uuid(), ts, now() - %(stored_ago)s * interval '1 second', actor, verb,
    object_type,
    CASE WHEN object_type = 'lesson' THEN course::text || '-l' || lesson
         WHEN object_type = 'question' THEN course::text || '-q' || lesson
         ELSE course::text END,
    course, NULL,
    CASE WHEN verb = 'progressed' THEN json_build_object('video',
        json_build_object('from', pos, 'to', pos + 10)) END,
    CASE WHEN verb IN ('scored', 'answered') THEN score END,
    CASE WHEN verb = 'progressed' THEN 10 ELSE 0 END,
    CASE WHEN verb = 'purchased' THEN 4900 ELSE 0 END,
    CASE WHEN verb = 'purchased' THEN 'USD' END,
    CASE WHEN verb IN ('progressed', 'completed') THEN least(100, 100 - age_days) END
FROM (
    SELECT i,
        md5('student-' || (i %% %(students)s))::uuid AS actor,
        ((i %% %(students)s) * 7 + (i / %(students)s) %% 5) %% %(courses)s AS course_n,
        (i %% 10) AS lesson,
        ((i * 13) %% 60) * 10 AS pos,
        (i * 7919) %% %(days)s AS age_days,
        now() - ((i * 7919) %% %(days)s) * interval '1 day' - (i %% 3600) * interval '1 second'
            AS ts,
        CASE WHEN i %% 100 < 55 THEN 'progressed' WHEN i %% 100 < 70 THEN 'completed'
             WHEN i %% 100 < 75 THEN 'enrolled' WHEN i %% 100 < 85 THEN 'scored'
             WHEN i %% 100 < 97 THEN 'answered' WHEN i %% 100 < 98 THEN 'purchased'
             ELSE 'commented' END AS verb,
        CASE WHEN i %% 100 < 70 THEN 'lesson' WHEN i %% 100 < 85 THEN 'quiz'
             WHEN i %% 100 < 97 THEN 'question' WHEN i %% 100 < 98 THEN 'course'
             ELSE 'forum_post' END AS object_type,
        CASE WHEN (i * 31) %% 100 < 5 THEN 1.0 ELSE ((i * 37) %% 100) / 100.0 END AS score
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
) e
JOIN (SELECT id AS course, (row_number() OVER (ORDER BY id) - 1)::int AS n
      FROM courses WHERE slug LIKE 'bench-%%') c ON c.n = e.course_n
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_students(count: int) -> None:
    """The students as users (ids as the event generator derives them), in one statement."""
    import psycopg

    from lms.config import get_settings

    conninfo = get_settings().database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as db:
        columns = {
            name: default
            for name, default, nullable in db.execute(
                "SELECT column_name, column_default, is_nullable FROM information_schema.columns "
                "WHERE table_name = 'users'"
            )
            if nullable == "NO" and default is None
        }
    values = {
        "id": "md5('student-' || i)::uuid",
        "email": "'student-' || i || '@example.test'",
        "name": "'Student ' || i",
        "role": "'STUDENT'",
        "created_at": "now()",
        "updated_at": "now()",
    }
    from sqlalchemy import select

    from lms.db import session_scope
    from lms.users.models import User

    with session_scope() as session:  # a template row supplies every other required value
        template = User(email="template@example.test", name="Template", role="STUDENT")
        session.add(template)
        session.flush()
        rest = [c for c in columns if c not in values]
        session.execute(select(1).where(User.id == template.id))
        copy = ", ".join(rest)
        session.connection().exec_driver_sql(
            f"INSERT INTO users ({', '.join([*values, *rest])}) "
            f"SELECT {', '.join(values.values())}{', ' if rest else ''}{copy} "
            f"FROM generate_series(0, {count - 1}) AS i, users t WHERE t.id = '{template.id}'"
        )


def make_courses(count: int):
    from lms.courses.models import Course, CourseInstructor, CourseStatus, InstructorRole
    from lms.db import session_scope
    from lms.users.models import Role, User

    with session_scope() as session:
        educator = User(
            email="bench-educator@example.test", name="Bench Educator", role=Role.EDUCATOR
        )
        session.add(educator)
        session.flush()
        courses = [
            Course(
                slug=f"bench-{i:05d}",
                title=f"Bench course {i}",
                owner_id=educator.id,
                status=CourseStatus.PUBLISHED,
            )
            for i in range(count)
        ]
        session.add_all(courses)
        session.flush()
        session.add_all(
            CourseInstructor(course_id=c.id, user_id=educator.id, role=InstructorRole.OWNER)
            for c in courses
        )
        return educator, [str(c.id) for c in courses]


def generate(db, first: int, last: int, args, *, days: int = 90, stored_ago: int = 3600) -> None:
    """Events i = first..last, dated up to `days` back, stored `stored_ago` seconds ago."""
    db.execute(
        _EVENTS,
        {
            "first": first,
            "last": last,
            "students": args.students,
            "courses": args.courses,
            "days": days,
            "stored_ago": stored_ago,
        },
    )


def raw_group_by(conninfo: str) -> float:
    """The rollup's own daily SELECTs, as plain GROUP BY into temporary tables."""
    import psycopg
    from sqlalchemy import true
    from sqlalchemy.dialects import postgresql

    from lms.analytics.aggregates import daily_statements
    from lms.analytics.rollups import WORK_MEM

    dialect = postgresql.dialect()
    statements = [build(true()).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
                  for _t, _k, build in daily_statements("postgresql").values()]  # fmt: skip
    with psycopg.connect(conninfo) as db:
        # As the rollup runs: same settings for both.
        db.execute("SET jit = off")
        db.execute(f"SET work_mem = '{WORK_MEM}'")
        started = time.perf_counter()
        for index, statement in enumerate(statements):
            db.execute(f"CREATE TEMP TABLE raw_{index} AS {statement}")
        db.commit()
        return time.perf_counter() - started


def existing_bench(conninfo: str):
    """The educator and course ids of a database copied from a template."""
    import psycopg

    from lms.users.models import User

    with psycopg.connect(conninfo) as db:
        educator_id = db.execute(
            "SELECT id FROM users WHERE email = 'bench-educator@example.test'"
        ).fetchone()[0]
        course_ids = [
            str(row[0])
            for row in db.execute("SELECT id FROM courses WHERE slug LIKE 'bench-%' ORDER BY slug")
        ]
    from lms.db import session_scope

    with session_scope() as session:
        educator = session.get(User, educator_id)
        session.expunge(educator)
    return educator, course_ids


def run(args, *, copied: bool) -> dict:
    import httpx
    import psycopg

    from lms.analytics.rollups import roll_up
    from lms.config import get_settings
    from lms.db import session_scope
    from lms.migrate import upgrade
    from lms.security import issue_access_token

    settings = get_settings()
    upgrade(settings)
    conninfo = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    if copied:
        educator, course_ids = existing_bench(conninfo)
        print(f"events copied from template {args.template}", flush=True)
    else:
        educator, course_ids = make_courses(args.courses)
        make_students(args.students)
        started = time.perf_counter()
        with psycopg.connect(conninfo, autocommit=True) as db:
            step = 200_000
            for first in range(0, args.events, step):
                generate(db, first, min(args.events, first + step) - 1, args)
            db.execute("VACUUM ANALYZE")
        print(f"{args.events} events generated in {time.perf_counter() - started:.1f} s")
        if args.template:  # kept for the next run, before any rollup touches it
            release_connections()
            admin_sql(f'CREATE DATABASE "{args.template}" TEMPLATE "{current_database()}"')
            print(f"kept as template {args.template}", flush=True)

    figures: dict = {"events": args.events, "courses": args.courses, "students": args.students}
    raw = raw_group_by(conninfo)
    started = time.perf_counter()
    with session_scope() as session:
        full = roll_up(session, full=True)
    rollup = time.perf_counter() - started
    print(f"full rollup {rollup:.2f} s ({full}); raw GROUP BY {raw:.2f} s", flush=True)

    with psycopg.connect(conninfo, autocommit=True) as db:
        # Steady state, as autovacuum leaves the tables well before the next scheduled run:
        # hint bits and visibility map set, so the incremental run pays for its own work,
        # not for the first visit to a million freshly written rollup rows.
        db.execute("VACUUM ANALYZE")
        # New events stored now: most of them from the last day, one in ten late (a week).
        base, late = args.events + 10_000_000, args.incremental // 10
        generate(db, base, base + args.incremental - late - 1, args, days=1, stored_ago=0)
        generate(db, base - late, base - 1, args, days=7, stored_ago=0)
    started = time.perf_counter()
    with session_scope() as session:
        incremental = roll_up(session)
    incremental_s = time.perf_counter() - started
    print(f"incremental {incremental_s:.3f} s ({incremental})", flush=True)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lyceum.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    token = issue_access_token(educator, settings)
    timings = []
    try:
        if not wait_until_healthy(url, alive=lambda: server.poll() is None):
            raise SystemExit("the API did not start")
        headers = {"Authorization": f"Bearer {token}"}
        rng = random.Random(7)
        with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
            for index in range(args.queries + 20):
                body = {"query": COURSE_ANALYTICS, "variables": {"c": rng.choice(course_ids)}}
                began = time.perf_counter()
                response = client.post("/graphql", json=body)
                elapsed = (time.perf_counter() - began) * 1000
                answer = response.json()
                if answer.get("errors"):
                    raise SystemExit(f"courseAnalytics failed: {answer['errors']}")
                if index >= 20:  # warm-up first
                    timings.append(elapsed)
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures.update(
        {
            "rollup_s": round(rollup, 3),
            "raw_group_by_s": round(raw, 3),
            "rollup_over_raw": round(rollup / raw, 2),
            "incremental_events": args.incremental,
            "incremental_s": round(incremental_s, 3),
            "course_analytics_p50_ms": round(percentile(timings, 0.5), 2),
            "course_analytics_p95_ms": round(percentile(timings, 0.95), 2),
        }
    )
    return figures


def current_database() -> str:
    return os.environ["LMS_DATABASE_URL"].rsplit("/", 1)[1]


def release_connections() -> None:
    """Close the pooled connections (a database is copied only without connections)."""
    from lms.db import autocommit_engine, sync_sessionmaker

    for engine in (sync_sessionmaker().kw["bind"], autocommit_engine()):
        engine.dispose()


def template_exists(name: str) -> bool:
    import psycopg

    from loadtests.environment import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
        return db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--courses", type=int, default=1000)
    parser.add_argument("--students", type=int, default=50_000)
    parser.add_argument("--incremental", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--template", help="keep or reuse the generated database by this name")
    parser.add_argument("--drop-template", action="store_true")
    args = parser.parse_args(argv)
    database = f"lyceum_bench_analytics_{os.getpid()}"
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-analytics-"))
    vhost = f"bench_analytics_{os.getpid()}"
    broker_url, own_vhost = isolated_broker_url(vhost)
    use_environment(var_dir, broker_url, database)
    copied = bool(args.template) and bool(template_exists(args.template))
    # FILE_COPY: a checkpoint and a copy of the files, not every page through the WAL.
    admin_sql(
        f'CREATE DATABASE "{database}" TEMPLATE "{args.template}" STRATEGY FILE_COPY'
        if copied
        else f'CREATE DATABASE "{database}"'
    )
    try:
        with open("/proc/loadavg") as load:
            print("load average at start:", load.read().strip(), flush=True)
        figures = run(args, copied=copied)
        with open("/proc/loadavg") as load:
            figures["load_average_end"] = load.read().strip()
    finally:
        release(database, vhost, own_vhost, var_dir)
        if args.template and args.drop_template:
            admin_sql(f'DROP DATABASE IF EXISTS "{args.template}" WITH (FORCE)')
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
