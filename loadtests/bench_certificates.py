"""Certificate pipeline against a plain render loop, in the same run.

    .venv/bin/python -m loadtests.bench_certificates [--n 500] [--concurrency CPUS] [--timeout 900]

Like bench_jobs, it runs on the services the tests use (PostgreSQL on 127.0.0.1:5432,
RabbitMQ on 127.0.0.1:5672; LMS_TEST_PG_ADMIN_URL / LMS_TEST_BROKER_URL override), in a
database and (when `rabbitmqctl` can) a RabbitMQ vhost of its own, both removed at the end.

- pipeline: N completed enrollments get their certificates through the real pipeline:
  `start_issuance` records N PENDING certificates and N `certificates.issue` jobs (100 per
  transaction), published after commit; ONE worker process (`lms worker -Q certificates
  -c CONCURRENCY`, default: this machine's CPUs) renders each PDF, stores it, records the
  version and hash and requests the email job. Timed from the first commit until the last
  certificate is ISSUED (polled in the database every 50 ms).
- plain: the same N PDFs rendered in a loop in this one process, nothing else.

Both render identical bytes (the PDF is deterministic), which the run checks on a sample.
Output: certificates/s for both, the ratio pipeline/plain (target: at least 0.6), and a
JSON line last.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_certificates.py`
    sys.path.insert(0, str(ROOT))

from loadtests.bench_jobs import BENCH_DB, BENCH_VHOST, BenchAborted, Deadline, cleanup  # noqa: E402
from loadtests.environment import admin_sql, isolated_broker_url, use_environment  # noqa: E402

PER_TRANSACTION = 100
MAX_N = 20_000


def make_enrollments(n: int) -> list[uuid.UUID]:
    """An educator's published one-lesson course and N students who completed it."""
    from lms.courses.models import Course, CourseInstructor, CourseStatus, InstructorRole
    from lms.db import session_scope
    from lms.enrollments.models import Enrollment, EnrollmentStatus
    from lms.models import utcnow
    from lms.users.models import Role, User

    now = utcnow()
    with session_scope() as session:
        teacher = User(
            email=f"t-{uuid.uuid4().hex[:8]}@bench.test", name="Ada Lovelace", role=Role.EDUCATOR
        )
        session.add(teacher)
        session.flush()
        course = Course(
            slug=f"bench-{uuid.uuid4().hex[:8]}",
            title="Analytical Engines for Beginners",
            owner_id=teacher.id,
            status=CourseStatus.PUBLISHED,
        )
        session.add(course)
        session.flush()
        session.add(
            CourseInstructor(course_id=course.id, user_id=teacher.id, role=InstructorRole.OWNER)
        )
        students = [
            User(
                email=f"s{i}-{uuid.uuid4().hex[:8]}@bench.test",
                name=f"Student Number {i}",
                role=Role.STUDENT,
            )
            for i in range(n)
        ]
        session.add_all(students)
        session.flush()
        enrollments = [
            Enrollment(
                student_id=s.id,
                course_id=course.id,
                status=EnrollmentStatus.COMPLETED,
                progress_percent=100.0,
                completed_lessons=1,
                total_lessons=1,
                enrolled_at=now,
                updated_at=now,
                completed_at=now,
            )
            for s in students
        ]
        session.add_all(enrollments)
        session.flush()
        return [e.id for e in enrollments]


def start_pipeline(enrollment_ids: list[uuid.UUID]) -> float:
    """Record certificates and their jobs, PER_TRANSACTION at a time; returns the first commit
    time."""
    from sqlalchemy import select

    from lms.db import session_scope
    from lms.enrollments.certificates import start_issuance
    from lms.enrollments.models import Enrollment

    first = None
    for start in range(0, len(enrollment_ids), PER_TRANSACTION):
        chunk = enrollment_ids[start : start + PER_TRANSACTION]
        with session_scope() as session:
            for enrollment in session.scalars(select(Enrollment).where(Enrollment.id.in_(chunk))):
                start_issuance(session, enrollment, requested_by_id=None)
        first = first or time.perf_counter()
    return first


class IssueWatcher:
    """Counts finished `certificates.issue` jobs from the event bus, so waiting for the
    pipeline adds no database queries to what is being measured."""

    def __init__(self) -> None:
        import threading

        from lms.enrollments.certificates import ISSUE_JOB
        from lms.events.bus import EventListener
        from lms.jobs.service import JOB_TOPIC

        self.topic, self.kind = JOB_TOPIC, ISSUE_JOB
        self.succeeded = 0
        self.failed = 0
        self.changed = threading.Condition()
        self.listener = EventListener(self._on_event)

    def _on_event(self, topic: str, data: dict) -> None:
        if topic != self.topic or data.get("kind") != self.kind:
            return
        with self.changed:
            if data["status"] == "SUCCEEDED":
                self.succeeded += 1
            elif data["status"] == "FAILED":
                self.failed += 1
            self.changed.notify_all()

    def __enter__(self) -> "IssueWatcher":
        self.listener.start()
        if not self.listener.ready.wait(15):
            raise BenchAborted("event bus listener did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.listener.stop()

    def wait(self, count: int, deadline: Deadline) -> float:
        """Block until `count` jobs have succeeded; the time of the last one."""
        with self.changed:
            while self.succeeded < count:
                if self.failed:
                    raise BenchAborted(f"{self.failed} certificate job(s) failed")
                deadline.check(f"the pipeline ({self.succeeded} of {count} issued)")
                self.changed.wait(1.0)
        return time.perf_counter()


def snapshots(enrollment_ids: list[uuid.UUID]) -> list:
    """What each certificate printed (version 1), for the plain loop to render again."""
    from sqlalchemy import select

    from lms.db import sync_sessionmaker
    from lms.enrollments.certificates import issue_snapshot
    from lms.enrollments.models import Certificate

    with sync_sessionmaker()() as session:  # closed without a commit: nothing is changed
        certificates = session.scalars(
            select(Certificate).where(Certificate.enrollment_id.in_(enrollment_ids))
        ).all()
        result = []
        for cert in certificates:
            stored, cert.version = cert.content_hash, 0  # ask what version 1 prints
            result.append((issue_snapshot(session, cert.id, 1), stored))
    return result


def run(args: argparse.Namespace) -> dict:
    deadline = Deadline(args.timeout)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(var_dir, broker_url, BENCH_DB)
    worker = None
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.jobs.broker import publisher
        from lms.migrate import upgrade
        from tasks.enrollments import render_pdf
        from tests.support import start_worker

        upgrade(get_settings())
        with publisher().connection_for_write() as connection:  # nothing left from earlier runs
            for queue in publisher().amqp.queues.values():
                queue(connection.default_channel).purge()
        warm = max(4, min(40, args.n // 10))
        warm_ids, ids = make_enrollments(warm), make_enrollments(args.n)
        try:
            worker = start_worker("certificates", concurrency=args.concurrency)
        except AssertionError as error:
            raise BenchAborted(f"worker did not start: {str(error)[-2000:]}") from None
        print(
            f"bench: database {BENCH_DB}, worker -Q certificates -c {args.concurrency}, N={args.n}",
            flush=True,
        )

        with IssueWatcher() as issued:
            # Warm-up: fonts loaded in every pool child, connections open, statements compiled.
            start_pipeline(warm_ids)
            issued.wait(warm, deadline)

            first = start_pipeline(ids)
            last = issued.wait(warm + args.n, deadline)
        pipeline_seconds = last - first
        print(f"bench: pipeline done in {pipeline_seconds:.2f} s", flush=True)

        work = snapshots(ids)
        render_pdf(work[0][0])  # the plain loop gets its warm-up too
        started = time.perf_counter()
        pdfs = [render_pdf(snapshot) for snapshot, _ in work]
        plain_seconds = time.perf_counter() - started
        deadline.check("the plain loop")
        same = sum(
            hashlib.sha256(pdf).hexdigest() == stored for pdf, (_, stored) in zip(pdfs, work)
        )
        if same != len(work):
            raise BenchAborted(f"only {same} of {len(work)} pipeline PDFs match the plain renders")

        from sqlalchemy import func, select

        from lms.db import session_scope
        from lms.jobs.models import Job

        with session_scope() as session:
            emails = session.scalar(
                select(func.count()).select_from(Job).where(Job.kind == "email.send")
            )
            runs = session.execute(
                select(Job.started_at, Job.finished_at)
                .where(Job.kind == "certificates.issue")
                .order_by(Job.finished_at.desc())
                .limit(args.n)
            ).all()
        run_ms = sorted((finished - started).total_seconds() * 1000 for started, finished in runs)
        return {
            "n": args.n,
            "concurrency": args.concurrency,
            "pipeline_seconds": round(pipeline_seconds, 3),
            "pipeline_per_second": round(args.n / pipeline_seconds, 1),
            "plain_seconds": round(plain_seconds, 3),
            "plain_per_second": round(args.n / plain_seconds, 1),
            "ratio": round(plain_seconds / pipeline_seconds, 3),
            "identical_pdfs": same,
            "email_jobs": emails,
            "job_run_ms_median": round(run_ms[len(run_ms) // 2], 1),
            "job_run_ms_p90": round(run_ms[int(len(run_ms) * 0.9)], 1),
        }
    finally:
        cleanup(worker, None, var_dir, own_vhost)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=500, help=f"certificates per run (default 500, at most {MAX_N})"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="worker pool processes (default: this machine's CPUs)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="give up after this many seconds"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.n <= MAX_N:
        parser.error(f"--n is between 1 and {MAX_N}")
    try:
        result = run(args)
    except BenchAborted as error:
        print(f"bench: aborted: {error}", file=sys.stderr)
        return 1
    print(
        f"pipeline  {result['pipeline_per_second']:8.1f} certificates/s  "
        f"({result['n']} in {result['pipeline_seconds']} s: render, store, record, email job; "
        f"{result['concurrency']} worker processes)"
    )
    print(
        f"plain     {result['plain_per_second']:8.1f} certificates/s  "
        f"({result['n']} renders in {result['plain_seconds']} s, one process)"
    )
    print(f"ratio     {result['ratio']:8.3f}  (pipeline / plain; target >= 0.6)")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
