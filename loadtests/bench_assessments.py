"""Quizzes under load: many students taking a quiz at once, and attempts expiring together.

    .venv/bin/python -m loadtests.bench_assessments [--students 500] [--expiring 1000]
        [--think 2-8] [--seed 1] [--saturated-students N] [--in-flight 24]

Runs on PostgreSQL and RabbitMQ (a database and vhost of its own) with the API (`lms serve
--processes N`, one process per core as the README documents; `--api-processes 1` for one
alone; with more than one, on the machine's Redis), ONE worker (`lms worker -Q
default,notifications`) and `lms beat` (the deadline sweep every
`LMS_ASSESSMENTS_CLOSE_INTERVAL_SECONDS`, 1 s here).

- Taking, as students do it: every student is active at once, each on a connection of their
  own, and before each request reads for a think time drawn uniformly from `--think` seconds
  (2-8 s by default, so about 5 s per question; seeded per student with `--seed`): read the
  instructions, open the quiz (`quiz(id)`), start a 20-question attempt, save 20 answers,
  look at the quiz again, submit. No cap on requests in flight (one per student at most).
  The offered rate is students / mean think time (`offered_rps`, about 100 requests/s for
  500 students); `achieved_rps` is what was sent over the taking wall time.
  `answer_p50_ms`/`answer_p95_ms` are the latencies of `submitQuizAnswer`, `submit_p95_ms`
  of `submitQuiz`. `--think 0` makes this phase the saturation test below instead.
- Saturation (`saturated_*`, another quiz, `--saturated-students`, 0 skips it): the same
  requests with NO think time and `--in-flight` requests at a time (24 by default): a closed
  loop that keeps the one API process busy, so its latency is in-flight x CPU per request,
  not what a student waits. The figure of the earlier runs in docs/benchmarks.md.
- Baseline, same run, same load shape: `quiz(id)` (an authenticated read of one row and its
  access checks) by the same students; `answer_ratio_p50` = answer p50 / baseline p50.
- Where the time goes (saturation phase): `api_cpu_ms_per_request` (the API processes' CPU
  per request), `api_cpu_share` and `api_runqueue_share` (the shares of the wall time their
  threads ran and waited runnable for a core, summed over the processes: near 1.0 per
  process, the API is the limit; a large wait share is the machine's load). The same for
  the think-time phase under `taking`.
- Expiry: `--expiring` attempts (20 saved answers each, stored directly) whose deadlines all
  fall within one minute; nobody submits them. `closed_within_s_p95` is the 95th percentile
  of (closed and graded - deadline plus grace) as recorded by the server (goal: < 5 s).

Also printed per phase: the answer p95 and the requests sent in each 15-s window (the
exam-opens burst first, the submits last), to see where a tail comes from.

Nothing is asserted; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.bench_jobs import BenchAborted, Deadline, percentile
from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment

REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's (see README); only with processes > 1
BENCH_DB = f"lyceum_bench_assessments_{os.getpid()}"
BENCH_VHOST = BENCH_DB
QUESTIONS = 20
START = "mutation($q: ID!) { startQuizAttempt(quizId: $q) { id questions { id options { id } } } }"
ANSWER = """mutation($s: ID!, $i: SubmitQuizAnswerInput!) {
  submitQuizAnswer(submissionId: $s, input: $i) { version } }"""
SUBMIT = "mutation($s: ID!) { submitQuiz(submissionId: $s) { status score } }"
BASELINE = "query($q: ID!) { quiz(id: $q) { id title } }"


def setup(students: int, expiring: int) -> dict:
    """A course, its students (enrolled), a published 20-question quiz; tokens."""
    from sqlalchemy import insert

    from lms.assessments.models import Question, QuestionType, Quiz, QuizStatus
    from lms.courses.models import Course, CourseInstructor, CourseStatus, InstructorRole
    from lms.db import session_scope
    from lms.enrollments.models import Enrollment, EnrollmentStatus
    from lms.security import issue_access_token
    from lms.users.models import Role, User

    educator = User(email="teacher@bench.test", name="Teacher", role=Role.EDUCATOR)
    total = students + expiring
    users = [
        {"id": uuid.uuid4(), "email": f"s{k}@bench.test", "name": f"S{k}", "role": Role.STUDENT}
        for k in range(total)
    ]
    with session_scope() as session:
        session.add(educator)
        session.flush()
        course = Course(
            slug="bench", title="Bench", owner_id=educator.id, status=CourseStatus.PUBLISHED
        )
        session.add(course)
        session.flush()
        session.add(
            CourseInstructor(course_id=course.id, user_id=educator.id, role=InstructorRole.OWNER)
        )
        session.execute(insert(User), users)
        session.execute(
            insert(Enrollment),
            [
                {"student_id": u["id"], "course_id": course.id, "status": EnrollmentStatus.ACTIVE}
                for u in users
            ],
        )
        quizzes = []
        for title in ("Taken", "Saturated", "Expiring"):
            quiz = Quiz(
                course_id=course.id,
                title=title,
                status=QuizStatus.PUBLISHED,
                time_limit_seconds=3600,
                grace_seconds=0,
            )
            session.add(quiz)
            session.flush()
            quizzes.append(quiz)
            for n in range(QUESTIONS):
                session.add(
                    Question(
                        course_id=course.id,
                        quiz_id=quiz.id,
                        type=QuestionType.SINGLE_CHOICE,
                        prompt=f"Question {n}",
                        points=1.0,
                        options=[{"id": c, "text": c, "side": None} for c in "abcd"],
                        key={"correct": ["a"], "partialCredit": "ALL_OR_NOTHING"},
                        position=n,
                    )
                )
        session.flush()
        loaded = session.query(User).filter(User.role == Role.STUDENT).all()
        tokens = {u.id: issue_access_token(u) for u in loaded}
        return {
            "taken": str(quizzes[0].id),
            "saturated": str(quizzes[1].id),
            "expiring": quizzes[2].id,
            "takers": [tokens[u["id"]] for u in users[:students]],
            "taker_ids": [u["id"] for u in users[:students]],
            "expirers": [u["id"] for u in users[students:]],
        }


class Failed(Exception):
    """A request answered with an error: counted in `failures`; that student stops."""


class Load:
    """One phase's load shape and what it saw: think time per request (uniform over
    `think`, seeded per student), the cap on requests in flight, latencies by kind."""

    def __init__(self, think: tuple[float, float], in_flight: int, seed: int) -> None:
        self.think, self.seed, self.cap = think, seed, in_flight
        self.sem = asyncio.Semaphore(in_flight)
        self.lat: dict[str, list[float]] = {"baseline": [], "start": [], "answer": [], "submit": []}
        self.at: dict[str, list[float]] = {k: [] for k in self.lat}  # when each was sent
        self.failures: dict[str, int] = {}
        self.in_flight = self.peak_in_flight = 0
        self.tls = ssl.create_default_context()


async def take(shared, base_url: str, token: str, quiz_id: str, load: Load, student: int) -> None:
    """One student; with think time on a client (one connection) of their own, as a browser:
    one pool of 500 connections costs the bench client more CPU than the API (httpcore
    scans its connections for every request)."""
    import httpx

    rng = random.Random(f"{load.seed}:{student}")
    try:
        if shared is not None:
            await take_quiz(shared, token, quiz_id, load, rng)
        else:
            # http only, but httpx builds a TLS context per client (60 ms of CPU): share one.
            tls = load.tls
            async with httpx.AsyncClient(base_url=base_url, timeout=120, verify=tls) as client:
                await take_quiz(client, token, quiz_id, load, rng)
    except Failed:
        pass


async def take_quiz(client, token: str, quiz_id: str, load: Load, rng: random.Random) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    async def call(kind: str, query: str, variables: dict) -> dict:
        if load.think[1] > 0:  # the student reads the question (or the page) first
            await asyncio.sleep(rng.uniform(*load.think))
        async with load.sem:
            load.in_flight += 1
            load.peak_in_flight = max(load.peak_in_flight, load.in_flight)
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
            except Exception as error:  # the connection failed: the student saw an error
                load.failures[f"{kind}:{type(error).__name__}"] = (
                    load.failures.get(f"{kind}:{type(error).__name__}", 0) + 1
                )
                raise Failed(type(error).__name__) from None
            finally:
                load.in_flight -= 1
            load.lat[kind].append(time.perf_counter() - started)
            load.at[kind].append(started)
        try:
            body = response.json()
        except ValueError:
            body = {"errors": [{"extensions": {"code": f"HTTP {response.status_code}"}}]}
        if body.get("errors"):
            code = body["errors"][0].get("extensions", {}).get("code", "?")
            load.failures[f"{kind}:{code}"] = load.failures.get(f"{kind}:{code}", 0) + 1
            raise Failed(code)
        return body["data"]

    await call("baseline", BASELINE, {"q": quiz_id})
    attempt = (await call("start", START, {"q": quiz_id}))["startQuizAttempt"]
    for question in attempt["questions"]:
        choice = rng.choice(question["options"])["id"]
        answer = {"questionId": question["id"], "version": 0, "selectedOptionIds": [choice]}
        await call("answer", ANSWER, {"s": attempt["id"], "i": answer})
    await call("baseline", BASELINE, {"q": quiz_id})
    await call("submit", SUBMIT, {"s": attempt["id"]})


async def taking(base_url: str, quiz_id: str, tokens: list[str], load: Load) -> dict:
    import httpx

    # Saturation: one pool of `in_flight` connections; think time: a client per student.
    limits = httpx.Limits(max_connections=load.cap, max_keepalive_connections=load.cap)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as pool:
        shared = pool if load.think[1] == 0 else None
        started = time.perf_counter()
        await asyncio.gather(
            *(take(shared, base_url, t, quiz_id, load, k) for k, t in enumerate(tokens))
        )
        wall = time.perf_counter() - started
    ms = {k: [v * 1000 for v in values] for k, values in load.lat.items()}
    print("answer p95 / requests by 15-s window of the phase:", windows(load, started))
    requests = sum(len(v) for v in ms.values())
    return {
        "wall_s": round(wall, 2),
        "failures": load.failures,
        "requests": requests,
        "achieved_rps": round(requests / wall, 1),
        "peak_in_flight": load.peak_in_flight,
        "answer_p50_ms": round(percentile(ms["answer"], 0.5), 1),
        "answer_p95_ms": round(percentile(ms["answer"], 0.95), 1),
        "answer_p99_ms": round(percentile(ms["answer"], 0.99), 1),
        "submit_p95_ms": round(percentile(ms["submit"], 0.95), 1),
        "start_p95_ms": round(percentile(ms["start"], 0.95), 1),
        "baseline_p50_ms": round(percentile(ms["baseline"], 0.5), 1),
        "baseline_p95_ms": round(percentile(ms["baseline"], 0.95), 1),
    }


def windows(load: Load, started: float, width: float = 15.0) -> list[tuple[int, float, int]]:
    """(window start s, answer p95 ms, requests of any kind sent) per window: where the
    tail is (the exam-opens burst, the submits at the end, or all along)."""
    sent: dict[int, int] = {}
    answers: dict[int, list[float]] = {}
    for kind, times in load.at.items():
        for k, at in enumerate(times):
            w = int((at - started) // width)
            sent[w] = sent.get(w, 0) + 1
            if kind == "answer":
                answers.setdefault(w, []).append(load.lat[kind][k] * 1000)
    return [
        (int(w * width), round(percentile(answers.get(w, [0.0]), 0.95), 1), sent[w])
        for w in sorted(sent)
    ]


def measured(api_pid: int, base_url: str, quiz_id: str, tokens: list[str], load: Load) -> dict:
    """One phase, with the API process's CPU and run-queue wait over it."""
    (ran, waited), client_cpu = cpu_seconds(api_pid), time.process_time()
    taken = asyncio.run(taking(base_url, quiz_id, tokens, load))
    after = cpu_seconds(api_pid)
    ran, waited = after[0] - ran, after[1] - waited
    client_cpu = time.process_time() - client_cpu
    # Is the one API process the limit? Its CPU per request; the share of the wall time it
    # ran (near 1.0: requests queue for its own event loop) and waited runnable for a core
    # (the machine's other work); the rest it was idle, waiting on the database or clients.
    taken["api_cpu_ms_per_request"] = round(1000 * ran / max(taken["requests"], 1), 2)
    taken["api_cpu_share"] = round(ran / taken["wall_s"], 2)
    taken["api_runqueue_share"] = round(waited / taken["wall_s"], 2)
    taken["client_cpu_share"] = round(client_cpu / taken["wall_s"], 2)
    return taken


def plant_expiring(quiz_id: uuid.UUID, students: list[uuid.UUID], lead_s: float) -> None:
    """Attempts whose deadlines fall within one minute from `lead_s` seconds from now."""
    from sqlalchemy import insert, select

    from lms.assessments.models import AttemptStatus, Question, QuizAnswer, QuizAttempt
    from lms.db import session_scope
    from lms.models import utcnow

    with session_scope() as session:
        questions = list(session.scalars(select(Question.id).where(Question.quiz_id == quiz_id)))
        first = utcnow() + timedelta(seconds=lead_s)
        attempts, answers = [], []
        for n, student in enumerate(students):
            deadline = first + timedelta(seconds=60 * n / len(students))
            attempt_id = uuid.uuid4()
            attempts.append(
                {
                    "id": attempt_id,
                    "quiz_id": quiz_id,
                    "student_id": student,
                    "number": 1,
                    "status": AttemptStatus.IN_PROGRESS,
                    "seed": n,
                    "question_ids": [str(q) for q in questions],
                    "option_orders": {},
                    "current_position": 0,
                    "started_at": deadline - timedelta(hours=1),
                    "deadline": deadline,
                    "closes_at": deadline,
                    "max_score": float(len(questions)),
                }
            )
            answers += [
                {
                    "attempt_id": attempt_id,
                    "question_id": q,
                    "response": {"selected": [random.choice("abcd")]},
                    "version": 1,
                    "saved_at": deadline - timedelta(minutes=5),
                    "feedback": "",
                }
                for q in questions
            ]
        session.execute(insert(QuizAttempt), attempts)
        session.execute(insert(QuizAnswer), answers)


def expiry(quiz_id: uuid.UUID, students: list[uuid.UUID], deadline: Deadline) -> dict:
    from sqlalchemy import func, select

    from lms.assessments.models import AttemptStatus, QuizAttempt
    from lms.db import session_scope

    plant_expiring(quiz_id, students, lead_s=5)
    while True:
        with session_scope() as session:
            left = session.scalar(
                select(func.count()).where(
                    QuizAttempt.quiz_id == quiz_id,
                    QuizAttempt.status == AttemptStatus.IN_PROGRESS,
                )
            )
        if left == 0:
            break
        if deadline.left() <= 0:
            raise BenchAborted(f"{left} attempts never closed")
        time.sleep(0.5)  # the server closes them; nothing to await from here
    with session_scope() as session:
        rows = session.execute(
            select(QuizAttempt.submitted_at, QuizAttempt.closes_at, QuizAttempt.status).where(
                QuizAttempt.quiz_id == quiz_id
            )
        ).all()
    delays = [(closed - due).total_seconds() for closed, due, _ in rows]
    return {
        "expired_attempts": len(rows),
        "graded": sum(1 for *_, status in rows if status == AttemptStatus.GRADED),
        "closed_within_s_p50": round(percentile(delays, 0.5), 2),
        "closed_within_s_p95": round(percentile(delays, 0.95), 2),
        "closed_within_s_max": round(max(delays), 2),
    }


def cpu_seconds(pid: int) -> tuple[float, float]:
    """Seconds the threads of a process and its children (the API processes under `lms
    serve --processes`) ran on a core, and waited runnable for one, so far
    (`/proc/…/schedstat`; the wait is the machine's load, not the process's own work)."""
    ran = waited = 0
    for process in (pid, *Path(f"/proc/{pid}/task/{pid}/children").read_text().split()):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                on_cpu, on_queue, _ = (task / "schedstat").read_text().split()
            except (FileNotFoundError, ValueError):  # a thread that just ended
                continue
            ran, waited = ran + int(on_cpu), waited + int(on_queue)
    return ran / 1e9, waited / 1e9


def run(args: argparse.Namespace) -> dict:
    deadline = Deadline(args.timeout)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    shared = {"LMS_REDIS_URL": REDIS_URL, "LMS_RATE_LIMIT_PREFIX": f"{BENCH_DB}:"}
    use_environment(
        var_dir,
        broker_url,
        BENCH_DB,
        LMS_ASSESSMENTS_CLOSE_INTERVAL_SECONDS="1",
        **(shared if args.api_processes > 1 else {}),
    )
    processes = []
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import start_api, start_beat, start_worker

        upgrade(get_settings())
        data = setup(args.students, args.expiring)
        api, base_url = start_api(processes=args.api_processes)
        processes += [api, start_worker("default,notifications"), start_beat()]
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        print(f"bench: {BENCH_DB}, {args.students} students, loadavg {load_before}", flush=True)
        pid = api.popen.pid
        think = args.think if args.think[1] > 0 else (0.0, 0.0)
        in_flight = args.students if think[1] > 0 else args.in_flight
        taken = measured(
            pid, base_url, data["taken"], data["takers"], Load(think, in_flight, args.seed)
        )
        print(f"taking: {taken}", flush=True)
        saturated = taken if think[1] == 0 else {}  # --think 0: that was the saturation test
        if args.saturated_students and not saturated:
            tokens = data["takers"][: args.saturated_students]
            load = Load((0.0, 0.0), args.in_flight, args.seed)
            saturated = measured(pid, base_url, data["saturated"], tokens, load)
            print(f"saturated: {saturated}", flush=True)
        expired = expiry(data["expiring"], data["expirers"], deadline)
        api_errors = api.output.count("Traceback")
        if api_errors:  # what failed, for the record (stderr)
            at = api.output.find("Traceback")
            print(api.output[max(0, at - 2000) : at + 6000], file=sys.stderr)
        mean_think = sum(think) / 2
        return {
            "students": args.students,
            "api_processes": args.api_processes,
            "answer_p50_ms": taken["answer_p50_ms"],
            "answer_p95_ms": taken["answer_p95_ms"],
            "submit_p95_ms": taken["submit_p95_ms"],
            "expired_attempts": expired["expired_attempts"],
            "closed_within_s_p95": expired["closed_within_s_p95"],
            "think_time_s": list(think),
            # Students / mean think time: what they ask of the API when it answers at once.
            "offered_rps": round(args.students / mean_think, 1) if mean_think else None,
            "achieved_rps": taken["achieved_rps"],
            "peak_in_flight": taken["peak_in_flight"],
            "failures": sum(taken["failures"].values()),
            "baseline_p50_ms": taken["baseline_p50_ms"],
            "answer_ratio_p50": round(taken["answer_p50_ms"] / taken["baseline_p50_ms"], 2),
            "api_cpu_ms_per_request": taken["api_cpu_ms_per_request"],
            "saturated_students": args.saturated_students,
            "saturated_in_flight": args.in_flight if saturated else None,
            "saturated_answer_p50_ms": saturated.get("answer_p50_ms"),
            "saturated_answer_p95_ms": saturated.get("answer_p95_ms"),
            "saturated_submit_p95_ms": saturated.get("submit_p95_ms"),
            "saturated_achieved_rps": saturated.get("achieved_rps"),
            "saturated_api_cpu_ms_per_request": saturated.get("api_cpu_ms_per_request"),
            "saturated_api_cpu_share": saturated.get("api_cpu_share"),
            "saturated_api_runqueue_share": saturated.get("api_runqueue_share"),
            "taking": taken,
            "saturated": saturated,
            "expiry": expired,
            "api_tracebacks": api_errors,
            "loadavg_before": load_before,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        }
    except BenchAborted:
        if processes:  # the API's own account of a failed request
            print(processes[0].output[-6000:], file=sys.stderr)
        raise
    finally:
        for process in reversed(processes):
            process.stop()
        release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)


def think_range(text: str) -> tuple[float, float]:
    """`2-8` (uniform between) or `5` (always) or `0` (none)."""
    low, _, high = text.partition("-")
    low_s = float(low)
    high_s = float(high) if high else low_s
    if low_s < 0 or high_s < low_s:
        raise argparse.ArgumentTypeError(f"think time {text!r}: want MIN-MAX seconds, MIN <= MAX")
    return low_s, high_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--expiring", type=int, default=1000)
    parser.add_argument(
        "--think",
        type=think_range,
        default=(2.0, 8.0),
        help="seconds a student reads before each request, uniform over MIN-MAX "
        "(default 2-8); 0 makes the taking phase the saturation test",
    )
    parser.add_argument("--seed", type=int, default=1, help="seeds each student's think times")
    parser.add_argument(
        "--saturated-students",
        type=int,
        default=None,
        help="students in the saturation phase (default: --students; 0 skips it)",
    )
    # Saturation: under the API's 30 pooled database connections (10 + 20 overflow).
    parser.add_argument("--in-flight", type=int, default=24)
    parser.add_argument(
        "--api-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="lms serve --processes (default: one per core)",
    )
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    if args.saturated_students is None:
        args.saturated_students = args.students
    args.saturated_students = min(args.saturated_students, args.students)
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
