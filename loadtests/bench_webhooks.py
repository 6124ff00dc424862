"""Stripe webhooks under load: the endpoint's answer time, and every purchase fulfilled once.

    .venv/bin/python -m loadtests.bench_webhooks [--deliveries 2000] [--duplicates 0.3]
                                                  [--senders 20] [--concurrency 2]

Runs on the services the tests use (PostgreSQL and RabbitMQ on 127.0.0.1), in a database
and RabbitMQ vhost of its own, with one API process (`lms serve`) and one worker
(`lms worker -Q default`). Purchases are made straight in the database (open checkouts);
their Stripe events are made here and signed as Stripe signs them:

- most purchases pay by card: one `checkout.session.completed` (paid);
- one in six pays by bank debit: `completed` (unpaid) then `async_payment_succeeded`;
- `--duplicates` of the deliveries re-send an event already in the stream; the whole stream
  is shuffled (events out of order) and sent by `--senders` concurrent clients.

Figures: `accept_p95_ms` (the endpoint's answer), `api_cpu_ms_per_delivery` (the API
process's CPU time, user + system, from the first send to the last handling job finished,
per delivery: what one delivery costs the API, relay included, whatever else runs on the
machine), `handled_s` (first send to the last handling job finished, read from the jobs
table), `double_fulfilments` (handling results that fulfilled a payment already fulfilled;
goal 0), `lost` (purchases not paid and enrolled at the end, plus events never stored;
goal 0). Nothing is asserted; the last line is JSON.

Baseline, in the same run and just before: the same stream, from the same senders, to
`loadtests.bare_webhook_app` (a bare Quart route on hypercorn doing the same single INSERT,
nothing else) while the API and the worker are idle. `bare_accept_p95_ms`,
`bare_cpu_ms_per_delivery`, and `accept_ratio_to_bare` (the endpoint's p95 over the bare
route's) say how far the endpoint is from that floor on whatever load the machine has; the
bare route runs with no handling going on beside it, so the ratio flatters it, not us.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import queue
import random
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

from loadtests.environment import (
    admin_sql,
    isolated_broker_url,
    release,
    use_environment,
)

BENCH_DB = f"lyceum_bench_webhooks_{os.getpid()}"
BENCH_VHOST = BENCH_DB
SECRET = "whsec_bench_" + uuid.uuid4().hex
PRICE = 4900


def sign(body: bytes) -> str:
    moment = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def make_purchases(count: int) -> list[dict]:
    """Students, courses and one open checkout per purchase, straight in the database."""
    from lms.courses.models import Course, CourseStatus
    from lms.db import session_scope
    from lms.payments.models import Payment, PaymentKind
    from lms.users.models import Role, User

    courses_n = 50
    students_n = -(-count // courses_n)
    purchases = []
    with session_scope() as session:
        owner = User(
            email=f"owner-{uuid.uuid4().hex[:8]}@bench.test", name="Owner", role=Role.EDUCATOR
        )
        session.add(owner)
        session.flush()
        courses = [
            Course(
                slug=f"bench-{uuid.uuid4().hex[:10]}",
                title=f"Bench course {n}",
                owner_id=owner.id,
                status=CourseStatus.PUBLISHED,
                price_amount=PRICE,
                currency="USD",
            )
            for n in range(courses_n)
        ]
        students = [
            User(email=f"s{n}-{uuid.uuid4().hex[:6]}@bench.test", name=f"S{n}", role=Role.STUDENT)
            for n in range(students_n)
        ]
        session.add_all(courses + students)
        session.flush()
        for n in range(count):
            student, course = students[n // courses_n], courses[n % courses_n]
            payment = Payment(
                kind=PaymentKind.COURSE,
                user_id=student.id,
                course_id=course.id,
                amount=PRICE,
                currency="USD",
                stripe_checkout_session_id=f"cs_bench_{uuid.uuid4().hex}",
            )
            session.add(payment)
            purchases.append(payment)
        session.flush()
        return [{"payment": str(p.id), "session": p.stripe_checkout_session_id} for p in purchases]


def events_for(purchase: dict, index: int) -> list[dict]:
    def session_object(paid: bool) -> dict:
        return {
            "id": purchase["session"],
            "object": "checkout.session",
            "client_reference_id": purchase["payment"],
            "amount_total": PRICE,
            "currency": "usd",
            "payment_intent": f"pi_{purchase['session'][9:]}",
            "payment_status": "paid" if paid else "unpaid",
            "status": "complete",
        }

    def event(kind: str, obj: dict) -> dict:
        return {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": obj},
        }

    if index % 6 == 5:  # bank debit: completed unpaid, settled later
        return [
            event("checkout.session.completed", session_object(False)),
            event("checkout.session.async_payment_succeeded", session_object(True)),
        ]
    return [event("checkout.session.completed", session_object(True))]


def wait_handled(expected: int, timeout: float) -> dict:
    """Wait until `expected` handling jobs have finished, read from the jobs table once the
    send is over (a bus listener in this process would take the GIL from the senders, and
    a poll during the send would load the database they measure): how many succeeded and
    failed, and when the last one finished (epoch seconds, the worker's clock: this host's)."""
    from sqlalchemy import func, select

    from lms.db import session_scope
    from lms.jobs.models import Job, JobStatus

    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            counts = dict(
                session.execute(
                    select(Job.status, func.count())
                    .where(Job.kind == "payments.handle_event")
                    .group_by(Job.status)
                ).all()
            )
            last = session.scalar(
                select(func.max(Job.finished_at)).where(Job.kind == "payments.handle_event")
            )
        done = counts.get(JobStatus.SUCCEEDED, 0) + counts.get(JobStatus.FAILED, 0)
        if done >= expected or time.monotonic() > deadline:
            return {
                "all_done": done >= expected,
                "failed": counts.get(JobStatus.FAILED, 0),
                "last_at": last.timestamp() if last else None,
            }
        time.sleep(0.25)


def send_all(
    base_url: str, deliveries: list[dict], senders: int, path: str = "/webhooks/stripe"
) -> tuple[list[float], dict]:
    import httpx

    work: queue.Queue = queue.Queue()
    for item in deliveries:
        work.put(item)
    latencies: list[float] = []
    answers = {"accepted": 0, "duplicate": 0, "error": 0}
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(base_url=base_url, timeout=60) as http:
            while True:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    return
                body = json.dumps(item).encode()
                started = time.perf_counter()
                response = http.post(
                    path,
                    content=body,
                    headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        answers["error"] += 1
                    elif response.json().get("duplicate"):
                        answers["duplicate"] += 1
                    else:
                        answers["accepted"] += 1

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, answers


def bare_baseline(stream: list[dict], senders: int) -> dict:
    """The same stream, from the same senders, to the bare route (loadtests.bare_webhook_app)."""
    from tests.support import LMS, Process, free_port

    port = free_port()
    command = [LMS[0], "-m", "loadtests.bare_webhook_app", "--port", str(port)]
    bare = Process(command)
    try:
        bare.wait_for("Running on")
        cpu_before = cpu_seconds(bare.popen.pid)
        latencies, answers = send_all(
            f"http://127.0.0.1:{port}", stream, senders, path="/bare/webhooks/stripe"
        )
        cpu_s = cpu_seconds(bare.popen.pid) - cpu_before
    finally:
        bare.stop()
    latencies.sort()
    return {
        "bare_accept_p50_ms": round(statistics.median(latencies), 1),
        "bare_accept_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "bare_cpu_ms_per_delivery": round(cpu_s * 1000 / len(stream), 2),
        "bare_errors": answers["error"],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process and its live children so far (/proc/PID/stat,
    fields 14 and 15), so work the API hands to a child process still counts."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }
    return own + sum(cpu_seconds(child) for child in children)


def outcome(purchases: list[dict], unique_events: set[str]) -> dict:
    from sqlalchemy import func, select

    from lms.db import session_scope
    from lms.enrollments.models import Enrollment
    from lms.jobs.models import Job
    from lms.payments.models import Payment, PaymentStatus, WebhookDelivery

    ids = [uuid.UUID(p["payment"]) for p in purchases]
    with session_scope() as session:
        fulfilled = session.scalar(
            select(func.count())
            .select_from(Payment)
            .where(
                Payment.id.in_(ids),
                Payment.status == PaymentStatus.PAID,
                Payment.fulfilled_at.is_not(None),
                Payment.enrollment_id.is_not(None),
            )
        )
        enrollments = session.scalar(select(func.count()).select_from(Enrollment))
        results = session.scalars(
            select(Job.result).where(Job.kind == "payments.handle_event")
        ).all()
        stored = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.event_id.in_(list(unique_events)))
        )
    fulfilling = sum(1 for r in results if (r or {}).get("outcome") == "fulfilled")
    return {
        "fulfilled_payments": fulfilled,
        "enrollments": enrollments,
        "double_fulfilments": max(fulfilling - fulfilled, 0) + max(enrollments - len(ids), 0),
        "lost": (len(ids) - fulfilled) + (len(unique_events) - stored),
    }


def run(args: argparse.Namespace) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(
        var_dir,
        broker_url,
        BENCH_DB,
        LMS_STRIPE_SECRET_KEY="sk_test_bench",
        LMS_STRIPE_WEBHOOK_SECRET=SECRET,
    )
    api = worker = None
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import start_api, start_worker

        upgrade(get_settings())
        unique_target = round(args.deliveries * (1 - args.duplicates))
        # Purchases whose events add up to the unique target (one in six sends two).
        count = total = 0
        while total < unique_target:
            total += 2 if count % 6 == 5 else 1
            count += 1
        purchases = make_purchases(count)
        events = [e for i, p in enumerate(purchases) for e in events_for(p, i)][:unique_target]
        rng = random.Random(args.seed)
        stream = events + [rng.choice(events) for _ in range(args.deliveries - len(events))]
        rng.shuffle(stream)
        unique = {e["id"] for e in events}
        process, base_url = start_api()
        api = process
        worker = start_worker("default", concurrency=args.concurrency)
        baseline = {"bare_load_avg_before": os.getloadavg()[0]}
        baseline.update(bare_baseline(stream, args.senders))
        load_before = os.getloadavg()
        print(
            f"bench: {len(purchases)} purchases, {len(unique)} events, {len(stream)} deliveries, "
            f"{args.senders} senders; load {load_before}",
            flush=True,
        )
        cpu_before = cpu_seconds(process.popen.pid)
        started = time.time()
        latencies, answers = send_all(base_url, stream, args.senders)
        sent_s = time.time() - started
        handled = wait_handled(len(unique), args.timeout)
        api_cpu_s = cpu_seconds(process.popen.pid) - cpu_before
        handled_s = (handled["last_at"] or time.time()) - started
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        figures = outcome(purchases, unique)
        return {
            "bench": "webhooks",
            "deliveries": len(stream),
            "unique_events": len(unique),
            "purchases": len(purchases),
            "senders": args.senders,
            "worker_concurrency": args.concurrency,
            "accept_p50_ms": round(statistics.median(latencies), 1),
            "accept_p95_ms": round(p95, 1),
            "accept_max_ms": round(latencies[-1], 1),
            **baseline,
            "accept_ratio_to_bare": round(p95 / baseline["bare_accept_p95_ms"], 2),
            "api_cpu_ms_per_delivery": round(api_cpu_s * 1000 / len(stream), 2),
            "sent_s": round(sent_s, 2),
            "handled_s": round(handled_s, 2),
            "all_handled": handled["all_done"],
            "handling_failed": handled["failed"],
            "answers": answers,
            "double_fulfilments": figures["double_fulfilments"],
            "lost": figures["lost"],
            "load_avg_before": load_before[0],
            "load_avg_after": os.getloadavg()[0],
        }
    finally:
        if worker is not None:
            worker.stop()
        if api is not None:
            api.stop()
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for handling")
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
