"""Fan-out of one announcement to every enrolled student, against a bare bulk insert.

    .venv/bin/python -m loadtests.bench_notifications [--recipients 10000] [--concurrency 2]

Runs on PostgreSQL and RabbitMQ (a database and vhost of its own), with ONE real worker
(`lms worker -Q notifications,email`). The recipients: every student gets the in-app
notification; half chose a daily email digest for announcements (their email waits for the
digest), the other half get it at once; a tenth also have a web-push subscription, served
by a local push endpoint in this process (answers 201 to the real pywebpush).

- `fanout_s`: from the commit of `notify_many` (the producer's transaction) to the fan-out
  job's end, when every in-app row is stored (the job's `finished_at`, same clock);
- `delivered_s`: from that commit to the last instant email and push handed to its backend
  (the latest `sent_at` of the deliveries, outbox backend for email);
- `raw_insert_rows_per_s`: the same notification rows (same title, body, expiry; every
  column the fan-out fills) inserted by one `COPY` in this process, in the same run, once
  the deliveries are sent: the floor of what storing them can cost. It is the median of
  `--copies` COPYs (3), each its own announcement on a fresh connection: one COPY's time
  varied 1.7x between runs of the same code (`raw_insert_s` lists them);
- `ratio` = `rows_per_s` / `raw_insert_rows_per_s` (goal ≥ 0.3; `fanout_s` goal < 10 s).

Nothing is asserted; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_notifications.py`
    sys.path.insert(0, str(ROOT))

from loadtests.bench_jobs import BenchAborted, Deadline
from loadtests.environment import (
    admin_sql,
    isolated_broker_url,
    release,
    use_environment,
)

BENCH_DB = f"lyceum_bench_notifications_{os.getpid()}"
BENCH_VHOST = BENCH_DB


class _Push(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def push_service() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Push)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser_keys() -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"p256dh": b64(public), "auth": b64(os.urandom(16))}


def make_students(n: int, push_url: str) -> list[uuid.UUID]:
    """`n` students; even ones want a daily digest, every tenth has a push subscription."""
    from sqlalchemy import insert

    from lms.db import session_scope
    from lms.notifications.models import (
        DigestFrequency,
        NotificationType,
        NotificationTypeSetting,
        PushSubscription,
    )
    from lms.users.models import Role, User

    ids = [uuid.uuid4() for _ in range(n)]
    keys = browser_keys()
    with session_scope() as session:
        session.execute(
            insert(User),
            [
                {"id": i, "email": f"s{k}@bench.test", "name": f"Student {k}", "role": Role.STUDENT}
                for k, i in enumerate(ids)
            ],
        )
        session.execute(
            insert(NotificationTypeSetting),
            [
                {
                    "user_id": i,
                    "notification_type": NotificationType.ANNOUNCEMENT,
                    "digest": DigestFrequency.DAILY,
                    "urgent_overrides": True,
                }
                for i in ids[::2]
            ],
        )
        session.execute(
            insert(PushSubscription),
            [
                {
                    "user_id": i,
                    "endpoint": f"{push_url}/push/{i}",
                    "p256dh": keys["p256dh"],
                    "auth": keys["auth"],
                }
                for i in ids[::10]
            ],
        )
    return ids


# What the announcement says: the fan-out's rows and the baseline's are the same rows.
TITLE = "Week 1 is online"
BODY = "Read chapter 1 before Monday."


def raw_copy(ids: list[uuid.UUID], key: str = "raw-copy") -> float:
    """The same notification rows (every column the fan-out fills) by one COPY on a fresh
    connection: the floor. Seconds."""
    import psycopg

    url = os.environ["LMS_DATABASE_URL"]
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        copy_rows(connection, ids, key)
        connection.commit()
        return time.perf_counter() - started


def copy_rows(connection, ids: list[uuid.UUID], key: str) -> None:
    """COPY one announcement's notification rows (not committed)."""
    from datetime import timedelta

    from lms.models import utcnow

    now = utcnow()
    expires = now + timedelta(days=90)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY notifications (id, user_id, type, priority, title, body, link, data,"
            " idempotency_key, in_app, created_at, expires_at) FROM STDIN"
        ) as copy,
    ):
        for user_id in ids:
            copy.write_row(
                (
                    uuid.uuid4(),
                    user_id,
                    "ANNOUNCEMENT",
                    "NORMAL",
                    TITLE,
                    BODY,
                    None,
                    "{}",
                    key,
                    True,
                    now,
                    expires,
                )
            )


def run(args: argparse.Namespace) -> dict:
    deadline = Deadline(args.timeout)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(var_dir, broker_url, BENCH_DB)
    worker = None
    server = push_service()
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from sqlalchemy import func, select

        from lms.config import get_settings
        from lms.db import session_scope
        from lms.jobs.models import Job
        from lms.migrate import upgrade
        from lms.models import utcnow
        from lms.notifications.models import (
            DeliveryStatus,
            Notification,
            NotificationDelivery,
        )
        from lms.notifications.service import notify_many
        from lms.notifications.settings import notifications_settings
        from tests.support import JobWatcher, start_worker

        upgrade(get_settings())
        ids = make_students(args.recipients, f"http://127.0.0.1:{server.server_address[1]}")
        try:
            worker = start_worker("notifications,email", concurrency=args.concurrency)
        except AssertionError as error:
            raise BenchAborted(f"worker did not start: {str(error)[-2000:]}") from None
        print(f"bench: {BENCH_DB}, worker -c {args.concurrency}, {len(ids)} recipients", flush=True)
        with JobWatcher() as watcher:
            warm = notify_warm(ids[:20], watcher, notify_many)  # connections, compiled statements
            with session_scope() as session:
                job_id = notify_many(
                    session,
                    user_ids=ids,
                    type="ANNOUNCEMENT",
                    title=TITLE,
                    body=BODY,
                    key="announcement:bench",
                )
            published = utcnow()
            watcher.wait(job_id, timeout=deadline.left())
            with session_scope() as session:
                job = session.get(Job, job_id)
                stored = session.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.idempotency_key == "announcement:bench")
                )
                jobs = session.scalars(
                    select(NotificationDelivery.job_id)
                    .join(Notification, Notification.id == NotificationDelivery.notification_id)
                    .where(
                        Notification.idempotency_key == "announcement:bench",
                        NotificationDelivery.job_id.is_not(None),
                    )
                    .distinct()
                ).all()
            if job.status.value != "SUCCEEDED" or stored != len(ids):
                raise BenchAborted(f"fan-out {job.status.value}: {stored} of {len(ids)} stored")
            fanout_s = (job.finished_at - published).total_seconds()
            for delivery_job in jobs:
                watcher.wait(delivery_job, timeout=max(1, deadline.left()))
            with session_scope() as session:
                rows = session.execute(
                    select(
                        NotificationDelivery.status,
                        func.count(),
                        func.max(NotificationDelivery.sent_at),
                    )
                    .join(Notification, Notification.id == NotificationDelivery.notification_id)
                    .where(Notification.idempotency_key == "announcement:bench")
                    .group_by(NotificationDelivery.status)
                ).all()
        by_status = {status.value: count for status, count, _ in rows}
        last_sent = max(sent for status, _, sent in rows if status == DeliveryStatus.SENT)
        delivered_s = (last_sent - published).total_seconds()
        copies = [raw_copy(ids, f"raw-copy:{n}") for n in range(args.copies)]
        raw_s = statistics.median(copies)
        rows_per_s = len(ids) / fanout_s
        raw_rows_per_s = len(ids) / raw_s
        return {
            "recipients": len(ids),
            "fanout_s": round(fanout_s, 3),
            "delivered_s": round(delivered_s, 3),
            # of fanout_s: the job itself, from its start (the rest: broker and pick-up)
            "fanout_job_s": round((job.finished_at - job.started_at).total_seconds(), 3),
            # of the rest: from the commit to the worker's start of the job
            "pickup_s": round((job.started_at - published).total_seconds(), 3),
            "rows_per_s": round(rows_per_s),
            "raw_insert_rows_per_s": round(raw_rows_per_s),
            "raw_insert_s": [round(seconds, 3) for seconds in copies],
            "ratio": round(rows_per_s / raw_rows_per_s, 3),
            "deliveries": by_status,
            "delivery_jobs": len(jobs),
            "warmup_recipients": warm,
            "concurrency": args.concurrency,
            "fanout_batch": notifications_settings().fanout_batch,
            "fanout_connections": notifications_settings().fanout_connections,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        }
    finally:
        server.shutdown()
        if worker is not None:
            worker.stop()
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)


def notify_warm(ids, watcher, notify_many) -> int:
    """A small fan-out and its sending jobs, all finished: the worker is idle when the
    measured announcement arrives (not still sending the warm-up's emails)."""
    from sqlalchemy import select

    from lms.db import session_scope
    from lms.notifications.models import Notification, NotificationDelivery

    with session_scope() as session:
        job_id = notify_many(session, user_ids=ids, type="SYSTEM", title="warm-up", key="warm")
    watcher.wait(job_id)
    with session_scope() as session:
        sending = session.scalars(
            select(NotificationDelivery.job_id)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(Notification.idempotency_key == "warm", NotificationDelivery.job_id.is_not(None))
            .distinct()
        ).all()
    for sending_job in sending:
        watcher.wait(sending_job)
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--copies", type=int, default=3, help="baseline COPYs (median)")
    args = parser.parse_args(argv)
    print("loadavg at start:", Path("/proc/loadavg").read_text().strip(), flush=True)
    try:
        result = run(args)
    except BenchAborted as error:
        print(f"bench aborted: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
