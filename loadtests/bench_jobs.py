"""Job machinery against raw Celery: throughput and enqueue-to-start latency.

    .venv/bin/python -m loadtests.bench_jobs [--n 2000] [--concurrency 2] [--batch 100]

Runs on the services the tests use (PostgreSQL on 127.0.0.1:5432, RabbitMQ on
127.0.0.1:5672; override with LMS_TEST_PG_ADMIN_URL / LMS_TEST_BROKER_URL). It creates its
own database and, when `rabbitmqctl` can, its own RabbitMQ vhost (queue names are fixed,
so on a shared vhost another checkout's worker would take our messages), starts ONE
worker process (`lms worker -Q default -c N`, which sends task events: -E) and measures,
on that same worker:

- raw burst: N `system.raw_noop` tasks sent by name with `send_task` through the same
  publisher app as jobs (same publisher confirms, same task-sent events). Start and finish
  times are the worker's own task-started / task-succeeded events, collected by a Celery
  events receiver in this process, so the task does nothing extra. Same machine, same clock.
- jobs burst: N `system.noop` jobs, each enqueued in its own transaction (record, commit,
  publish, run, record the outcome). Start and finish come from the job rows
  (`started_at - created_at`, `finished_at`); completion is awaited on the event bus.
- drains: consumption paused (Celery `cancel_consumer`), N raw tasks sent / N jobs enqueued
  `--batch` per transaction, consumption resumed (`add_consumer`): how fast the worker alone
  gets through them, with no producer competing for the CPU, and the CPU the worker (main
  process and pool, from /proc) spent per task meanwhile (`raw_drain_worker_cpu_ms`,
  `jobs_drain_worker_cpu_ms`): steadier than rates on a shared machine.
- batched enqueue: consumption paused, N jobs recorded by one `enqueue_many` (one INSERT
  per table, one publish burst with publisher confirms collected at the end), consumption
  resumed: `batched_enqueue_per_s` is its send rate (commit, publish, confirm, stamp),
  compared with raw `send_task` (`raw_send_per_s`) as `batched_enqueue_ratio`.
- idle: `--idle` tasks/jobs sent one at a time, each once the previous one finished: the
  enqueue-to-start latency without a backlog (a burst measures mostly queueing).
- monitored burst (skip with `--no-monitoring`): the jobs burst again, right after the
  plain one, with production's monitoring running: the Celery events monitor
  (`lms monitor`, reconciling every task event with its job row) and the scheduler
  (`lms beat`: alert evaluation, queue-stats snapshots and the relay, run by the same
  worker as in production), whose first round is sent as the burst starts so the run
  always contains one; then the plain burst once more. `monitoring_cost_ratio` =
  monitored / mean of the two plain bursts around it (plain, monitored, plain: a drift of
  the machine during the run cancels out; `plain_spread` says how much the two plain runs
  differ, i.e. the noise the ratio has to be read against). The CPU seconds the monitor
  and beat processes used are reported too.

`--embedded` runs the same machinery on the embedded default instead: SQLite and Lyceum's
filesystem broker in a temporary var folder, no server at all, and the worker `lms up`
starts (every queue, `-c 1` unless `--concurrency` is given). It measures the raw burst
(the baseline, on the same transport), the jobs burst, and one-at-a-time latency, and ends
with one JSON line: `embedded_jobs_per_s`, `embedded_start_p50_ms` (enqueue to start, one
job at a time), `embedded_burst_start_p50_ms`, `embedded_raw_per_s` and
`embedded_ratio` (jobs/raw throughput).

Throughput counts from the first send to the last completion. Nothing is asserted; the last
line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_jobs.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment  # noqa: E402

BENCH_DB = f"lyceum_bench_{os.getpid()}"
BENCH_VHOST = f"lyceum_bench_{os.getpid()}"


class BenchAborted(Exception):
    """The run cannot go on (timeout, foreign consumers); everything is cleaned up."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise BenchAborted(f"timed out during {what}")


class Completion:
    """Keys that finished (from events); `wait` blocks until all of a set have."""

    def __init__(self) -> None:
        self.done: set[str] = set()
        self._changed = threading.Condition()

    def add(self, key: str) -> None:
        with self._changed:
            self.done.add(key)
            self._changed.notify_all()

    def wait(self, keys: Iterable[str], deadline: Deadline, what: str) -> None:
        wanted = set(keys)
        with self._changed:
            finished = self._changed.wait_for(
                lambda: wanted <= self.done, max(0.0, deadline.left())
            )
            missing = len(wanted - self.done)
        if not finished:
            raise BenchAborted(
                f"timed out during {what}: {missing} of {len(wanted)} never finished"
            )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(round(fraction * len(ordered) + 0.4999)))
    return ordered[min(rank, len(ordered)) - 1]


# environment ------------------------------------------------------------------------------


# observers --------------------------------------------------------------------------------


class TaskEvents:
    """A Celery events receiver in a thread: task-started / task-succeeded times by task id."""

    def __init__(self, app) -> None:
        self.started: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}
        self.completion = Completion()
        self.ready = threading.Event()
        self._app = app
        self._receiver = None
        self._thread = threading.Thread(target=self._run, name="celery-events", daemon=True)

    def _on_started(self, event: dict) -> None:
        self.started[event["uuid"]] = event["timestamp"]

    def _on_succeeded(self, event: dict) -> None:
        self.succeeded[event["uuid"]] = event["timestamp"]
        self.completion.add(event["uuid"])

    def _run(self) -> None:
        ready = self.ready

        class Receiver(self._app.events.Receiver):
            def on_consume_ready(self, *args, **kwargs) -> None:
                ready.set()  # our queue is bound: no event from now on is missed

            def event_from_message(self, body, localize=True, **kwargs):
                # Keep the worker's raw time.time(): same machine, same clock.
                return super().event_from_message(body, localize=False, **kwargs)

        with self._app.connection_for_read() as connection:
            self._receiver = Receiver(
                connection,
                handlers={"task-started": self._on_started, "task-succeeded": self._on_succeeded},
            )
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def start(self) -> TaskEvents:
        self._thread.start()
        if not self.ready.wait(15):
            raise BenchAborted("celery events receiver did not start")
        return self

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class Bench:
    def __init__(self, args: argparse.Namespace, deadline: Deadline) -> None:
        from lms.config import get_settings
        from lms.events.bus import EventListener
        from lms.jobs.broker import publisher
        from lms.jobs.service import JOB_TOPIC

        self.args = args
        self.deadline = deadline
        self.worker_pid: int | None = None  # set once the worker runs: its CPU per drain
        self.settings = get_settings()
        self.app = publisher(self.settings)  # declares the durable queues
        self.task_events = TaskEvents(self.app)
        self.jobs_done = Completion()

        def on_bus_event(topic: str, data: dict) -> None:
            if topic == JOB_TOPIC and data.get("status") == "SUCCEEDED":
                self.jobs_done.add(data["jobId"])

        self.bus = EventListener(on_bus_event, self.settings)

    def start_listeners(self) -> None:
        self.task_events.start()
        self.bus.start()
        if not self.bus.ready.wait(15):
            raise BenchAborted("event bus listener did not start")

    def stop_listeners(self) -> None:
        self.task_events.stop()
        if self.bus._thread.is_alive():
            self.bus.stop()

    def purge_default_queue(self) -> int:
        with self.app.connection_for_write() as connection:
            channel = connection.default_channel
            consumers = channel.queue_declare("default", passive=True).consumer_count
            if consumers:  # only possible on a shared vhost
                raise BenchAborted(
                    f"{consumers} foreign consumer(s) on queue 'default' would take our work"
                )
            return self.app.amqp.queues["default"](channel).purge() or 0

    def _consumer(self, method: str) -> None:
        """Stop or restart the worker's consumption of `default`, confirmed by its reply."""
        # limit=1: our one worker has answered, so stop collecting replies (else: timeout).
        replies = getattr(self.app.control, method)("default", reply=True, timeout=10, limit=1)
        if not replies:
            raise BenchAborted(f"the worker did not answer {method}")

    # raw Celery ---------------------------------------------------------------------------

    def send_raw(self) -> tuple[str, float]:
        task_id = str(uuid.uuid4())
        sent = time.time()
        self.app.send_task("system.raw_noop", args=[sent], task_id=task_id, queue="default")
        return task_id, sent

    def send_raw_many(self, n: int) -> dict[str, float]:
        sent: dict[str, float] = {}
        for index in range(n):
            if index % 100 == 0:
                self.deadline.check("raw sends")
            task_id, at = self.send_raw()
            sent[task_id] = at
        return sent

    def raw_burst(self, n: int) -> dict:
        first = time.time()
        sent = self.send_raw_many(n)
        sent_all = time.time()
        self.task_events.completion.wait(sent, self.deadline, "raw burst")
        return self._raw_figures(sent, first, sent_all)

    def raw_drain(self, n: int) -> dict:
        self._consumer("cancel_consumer")
        first = time.time()
        sent = self.send_raw_many(n)
        sent_all = time.time()
        resumed, cpu = time.time(), self.worker_cpu()
        self._consumer("add_consumer")
        self.task_events.completion.wait(sent, self.deadline, "raw drain")
        last = max(self.task_events.succeeded[t] for t in sent)
        return {**drain_figures(n, first, sent_all, resumed, last), **self.worker_cpu_ms(cpu, n)}

    def worker_cpu(self) -> float | None:
        return tree_cpu_seconds(self.worker_pid) if self.worker_pid else None

    def worker_cpu_ms(self, before: float | None, n: int) -> dict:
        """CPU the worker (main process and pool) spent per task since `before`: on a busy
        machine the wall clock measures the other tenants too, this only our work."""
        after = self.worker_cpu()
        used = None if before is None or after is None else (after - before) * 1000 / n
        return {"worker_cpu_ms": used}

    def raw_idle(self, m: int) -> dict:
        sent: dict[str, float] = {}
        for _ in range(m):
            task_id, at = self.send_raw()
            sent[task_id] = at
            self.task_events.completion.wait([task_id], self.deadline, "raw idle latency")
        return self._raw_figures(sent, None, None)

    def _raw_figures(
        self, sent: dict[str, float], first: float | None, sent_all: float | None
    ) -> dict:
        starts = [(self.task_events.started[t] - at) * 1000 for t, at in sent.items()]
        last = max(self.task_events.succeeded[t] for t in sent)
        return figures(len(sent), first, sent_all, last, starts)

    # job machinery ------------------------------------------------------------------------

    def enqueue_jobs(self, count: int) -> list[str]:
        from lms.db import session_scope
        from lms.jobs.service import enqueue

        with session_scope(self.settings) as session:
            return [
                str(enqueue(session, "system.noop", settings=self.settings).id)
                for _ in range(count)
            ]

    def enqueue_many(self, n: int, per_transaction: int) -> list[str]:
        ids: list[str] = []
        while len(ids) < n:
            if len(ids) % 100 == 0:
                self.deadline.check("job enqueues")
            ids += self.enqueue_jobs(min(per_transaction, n - len(ids)))
        return ids

    def jobs_burst(self, n: int, per_transaction: int) -> dict:
        first = time.time()
        ids = self.enqueue_many(n, per_transaction)
        sent_all = time.time()
        self.jobs_done.wait(ids, self.deadline, f"jobs burst ({per_transaction}/transaction)")
        return self._job_figures(ids, first, sent_all)

    def jobs_drain(self, n: int, per_transaction: int) -> dict:
        from lms.jobs import publishing

        self._consumer("cancel_consumer")
        first = time.time()
        ids = self.enqueue_many(n, per_transaction)
        # Every message sent (the publishing threads) before the worker resumes: the drain
        # measures the worker alone, not the worker racing our publishes.
        publishing.flush(max(1.0, self.deadline.left()))
        sent_all = time.time()
        resumed, cpu = time.time(), self.worker_cpu()
        self._consumer("add_consumer")
        self.jobs_done.wait(ids, self.deadline, f"jobs drain ({per_transaction}/transaction)")
        # The last success write and bus event land on the pool's writer thread: counted.
        cpu_figures = self.worker_cpu_ms(cpu, n)
        last = self._job_figures(ids, None, None)["last"]
        return {**drain_figures(n, first, sent_all, resumed, last), **cpu_figures}

    def jobs_batched(self, n: int) -> dict:
        """`enqueue_many` of N jobs in one transaction (one INSERT per table, one confirmed
        publish burst), consumption paused: the send rate, then the worker's drain."""
        from lms.db import session_scope
        from lms.jobs.fanout import enqueue_many

        self._consumer("cancel_consumer")
        first = time.time()
        with session_scope(self.settings) as session:
            keys = enqueue_many(session, "system.noop", [{}] * n, settings=self.settings)
        sent_all = time.time()  # committed, published and confirmed (after-commit is inline)
        ids = [str(key) for key in keys]
        resumed = time.time()
        self._consumer("add_consumer")
        self.jobs_done.wait(ids, self.deadline, "jobs batched (enqueue_many)")
        last = self._job_figures(ids, None, None)["last"]
        return drain_figures(n, first, sent_all, resumed, last)

    def jobs_monitored(self, n: int) -> dict:
        """The 1-per-transaction burst with `lms monitor` and `lms beat` running."""
        from tests.support import LMS, Process

        monitor = Process([*LMS, "monitor"])
        beat = Process([*LMS, "beat", "--loglevel", "info"])
        try:
            monitor.wait_for("lms: monitor listening", timeout=max(1.0, self.deadline.left()))
            beat.wait_for("beat: Starting", timeout=max(1.0, self.deadline.left()))
            # The schedule's first round now (alerts every 30 s, stats every 5 s), not 30 s in.
            for task in ("admin.evaluate_alerts", "admin.publish_queue_stats"):
                self.app.send_task(task, queue="default")
            result = self.jobs_burst(n, 1)
        except AssertionError as error:  # a process never became ready
            raise BenchAborted(f"monitoring did not start: {str(error)[-2000:]}") from None
        finally:
            cpu = {
                "monitor_cpu_s": cpu_seconds(monitor.popen.pid),
                "beat_cpu_s": cpu_seconds(beat.popen.pid),
            }
            monitor.stop()
            beat.stop()
        result.update(cpu)
        result["monitor_discrepancies"] = sum("monitor: Celery" in line for line in monitor.lines)
        result["monitor_exit"] = monitor.popen.returncode
        return result

    def jobs_idle(self, m: int) -> dict:
        ids: list[str] = []
        for _ in range(m):
            [job_id] = self.enqueue_jobs(1)
            ids.append(job_id)
            self.jobs_done.wait([job_id], self.deadline, "job idle latency")
        return self._job_figures(ids, None, None)

    def _job_figures(self, ids: list[str], first: float | None, sent_all: float | None) -> dict:
        from sqlalchemy import func, select

        from lms.db import session_scope
        from lms.jobs.models import Job, JobEvent, JobStatus

        keys = [uuid.UUID(i) for i in ids]
        with session_scope(self.settings) as session:
            rows = session.execute(
                select(Job.status, Job.created_at, Job.started_at, Job.finished_at).where(
                    Job.id.in_(keys)
                )
            ).all()
            events = session.scalar(
                select(func.count()).select_from(JobEvent).where(JobEvent.job_id.in_(keys))
            )
        if len(rows) != len(ids) or any(row.status != JobStatus.SUCCEEDED for row in rows):
            raise BenchAborted("a benchmark job is missing or did not succeed")
        starts = [(row.started_at - row.created_at).total_seconds() * 1000 for row in rows]
        last = max(row.finished_at.timestamp() for row in rows)
        result = figures(len(rows), first, sent_all, last, starts)
        result["events_per_job"] = events / len(rows)
        return result


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a (still running) process has used, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its live descendants (a worker and its pool)."""
    total = cpu_seconds(pid) or 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return total
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(tree_cpu_seconds(int(child)) for child in children)
    return total


def figures(
    n: int, first: float | None, sent_all: float | None, last: float, starts_ms: list[float]
) -> dict:
    """Throughput (None for one-at-a-time runs, where it means nothing) and start latency."""
    timed = first is not None and sent_all is not None
    return {
        "n": n,
        "per_s": n / (last - first) if timed else None,
        "send_per_s": n / max(sent_all - first, 1e-9) if timed else None,
        "seconds": last - first if timed else None,
        "start_p50_ms": percentile(starts_ms, 0.50),
        "start_p99_ms": percentile(starts_ms, 0.99),
        "last": last,
    }


def drain_figures(n: int, first: float, sent_all: float, resumed: float, last: float) -> dict:
    """Sending rate while paused; worker rate from resuming consumption to the last finish."""
    return {
        "n": n,
        "per_s": n / (last - resumed),
        "send_per_s": n / max(sent_all - first, 1e-9),
        "seconds": last - resumed,
        "start_p50_ms": None,
        "start_p99_ms": None,
    }


def print_table(rows: list[tuple[str, dict]]) -> None:
    def cell(value: float | None, width: int, digits: int) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

    header = (
        f"{'variant':<40} {'n':>5} {'done/s':>8} {'sent/s':>8} {'secs':>6} "
        f"{'start p50 ms':>13} {'start p99 ms':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, row in rows:
        print(
            f"{name:<40} {row['n']:>5} {cell(row['per_s'], 8, 1)} {cell(row['send_per_s'], 8, 1)}"
            f" {cell(row['seconds'], 6, 2)} {cell(row['start_p50_ms'], 13, 1)}"
            f" {cell(row['start_p99_ms'], 13, 1)}"
        )


# the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, dict]:
    deadline = Deadline(args.timeout)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-var-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    if not own_vhost:
        print(
            f"bench: no vhost of our own (rabbitmqctl); sharing {broker_url.split('@')[-1]}",
            file=sys.stderr,
        )
    use_environment(var_dir, broker_url, BENCH_DB)
    worker = bench = None
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import start_worker

        upgrade(get_settings())
        bench = Bench(args, deadline)
        purged = bench.purge_default_queue()
        bench.start_listeners()
        print(
            f"bench: database {BENCH_DB}, broker {broker_url.split('@')[-1]}, "
            f"purged {purged} message(s) from 'default'",
            flush=True,
        )
        try:
            worker = start_worker("default", concurrency=args.concurrency)
        except AssertionError as error:  # " ready." never came
            raise BenchAborted(f"worker did not start: {str(error)[-2000:]}") from None
        bench.worker_pid = worker.popen.pid
        print(
            f"bench: worker ready (lms worker -Q default -c {args.concurrency}, -E); N={args.n}",
            flush=True,
        )

        # Warm-up: connections, each pool child's first task, SQL compilation caches.
        warm = max(10, min(50, args.n // 20))
        bench.raw_burst(warm)
        bench.jobs_burst(warm, 1)
        bench.jobs_burst(warm, args.batch)

        n, batch = args.n, args.batch
        results: dict[str, dict] = {}
        raw_runs = (
            ("raw", "raw send_task, burst", lambda: bench.raw_burst(n)),
            ("raw_drain", "raw, worker drain (queued first)", lambda: bench.raw_drain(n)),
            ("raw_idle", "raw, one at a time (idle)", lambda: bench.raw_idle(args.idle)),
        )
        job_runs = (
            ("jobs", "jobs 1/transaction, burst", lambda: bench.jobs_burst(n, 1)),
            *(
                ()
                if args.no_monitoring
                else (
                    (
                        "jobs_monitored",
                        "jobs 1/transaction, burst, monitored",
                        lambda: bench.jobs_monitored(n),
                    ),
                    (
                        "jobs_again",
                        "jobs 1/transaction, burst (again)",
                        lambda: bench.jobs_burst(n, 1),
                    ),
                )
            ),
            (
                "jobs_drain",
                f"jobs {batch}/transaction, worker drain",
                lambda: bench.jobs_drain(n, batch),
            ),
            ("jobs_batched", "jobs, enqueue_many, worker drain", lambda: bench.jobs_batched(n)),
            ("jobs_idle", "jobs, one at a time (idle)", lambda: bench.jobs_idle(args.idle)),
        )
        for runs in (raw_runs, job_runs):
            for key, label, measure in runs:
                results[key] = {"label": label, **measure()}
                print(f"bench: {label} done", flush=True)
            # The raw runs need the Celery events receiver; the job runs observe the bus.
            # Stop it so this process spends no CPU on events it does not need.
            bench.task_events.stop()
        return results
    finally:
        cleanup(worker, bench, var_dir, own_vhost)


def run_embedded(args: argparse.Namespace) -> dict[str, dict]:
    """The embedded default: SQLite + the filesystem broker in a temporary var folder."""
    deadline = Deadline(args.timeout)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-embedded-"))
    os.environ.update(
        {
            "LMS_ENV": "test",
            "LMS_VAR_DIR": str(var_dir),
            "LMS_SECRET_KEY": "bench-secret-" + uuid.uuid4().hex,
        }
    )
    for name in ("LMS_DATABASE_URL", "LMS_BROKER_URL", "LMS_EMAIL_URL", "LMS_STORAGE_URL"):
        os.environ.pop(name, None)  # the embedded defaults under LMS_VAR_DIR
    for name in ("LMS_REDIS_URL", "LMS_DEBUG", "LMS_MEDIA_WORK_DIR"):
        os.environ.pop(name, None)
    worker = bench = None
    try:
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import LMS, Process

        settings = get_settings()
        upgrade(settings)
        bench = Bench(args, deadline)
        bench.start_listeners()
        print(
            f"bench: embedded, database {settings.database_url}, broker {settings.broker_url}",
            flush=True,
        )
        worker = Process([*LMS, "worker", "-c", str(args.concurrency), "-n", "bench@%h"])
        try:
            worker.wait_for(" ready.", timeout=max(1.0, deadline.left()))
        except AssertionError as error:
            raise BenchAborted(f"worker did not start: {str(error)[-2000:]}") from None
        print(f"bench: worker ready (lms worker -c {args.concurrency}); N={args.n}", flush=True)

        warm = max(10, min(50, args.n // 20))
        bench.raw_burst(warm)
        bench.jobs_burst(warm, 1)

        n = args.n
        results: dict[str, dict] = {}
        for key, label, measure in (
            ("raw", "embedded raw send_task, burst", lambda: bench.raw_burst(n)),
            ("raw_idle", "embedded raw, one at a time", lambda: bench.raw_idle(args.idle)),
            ("jobs", "embedded jobs 1/transaction, burst", lambda: bench.jobs_burst(n, 1)),
            ("jobs_idle", "embedded jobs, one at a time", lambda: bench.jobs_idle(args.idle)),
        ):
            # CPU per message, worker and sender: on a busy machine wall time mostly
            # measures the other tenants, CPU time what one message costs.
            worker_cpu, own_cpu = tree_cpu_seconds(worker.popen.pid), time.process_time()
            results[key] = {"label": label, **measure()}
            count = results[key]["n"]
            results[key]["worker_cpu_ms"] = (
                (tree_cpu_seconds(worker.popen.pid) - worker_cpu) * 1000 / count
            )
            results[key]["sender_cpu_ms"] = (time.process_time() - own_cpu) * 1000 / count
            print(f"bench: {label} done", flush=True)
        return results
    finally:
        if worker is not None:
            worker.stop()
        if bench is not None:
            bench.stop_listeners()
        if "lms.db" in sys.modules:
            from lms.db import autocommit_engine, sync_sessionmaker

            for engine in (sync_sessionmaker().kw["bind"], autocommit_engine()):
                engine.dispose()
        shutil.rmtree(var_dir, ignore_errors=True)


def embedded_summary(args: argparse.Namespace, results: dict[str, dict], load: float) -> dict:
    raw, jobs = results["raw"], results["jobs"]
    return {
        "mode": "embedded",
        "n": args.n,
        "concurrency": args.concurrency,
        "embedded_jobs_per_s": round(jobs["per_s"], 1),
        "embedded_start_p50_ms": round(results["jobs_idle"]["start_p50_ms"], 2),
        "embedded_start_p99_ms": round(results["jobs_idle"]["start_p99_ms"], 2),
        "embedded_burst_start_p50_ms": round(jobs["start_p50_ms"], 2),
        "embedded_enqueue_per_s": round(jobs["send_per_s"], 1),
        "embedded_raw_per_s": round(raw["per_s"], 1),
        "embedded_raw_start_p50_ms": round(results["raw_idle"]["start_p50_ms"], 2),
        "embedded_ratio": round(jobs["per_s"] / raw["per_s"], 3),
        # CPU per message in the worker (consumer + pool) and in this (sending) process.
        "embedded_job_worker_cpu_ms": round(jobs["worker_cpu_ms"], 2),
        "embedded_job_sender_cpu_ms": round(jobs["sender_cpu_ms"], 2),
        "embedded_raw_worker_cpu_ms": round(raw["worker_cpu_ms"], 2),
        "embedded_raw_sender_cpu_ms": round(raw["sender_cpu_ms"], 2),
        "events_per_job": jobs["events_per_job"],
        "load_avg_before": round(load, 2),
    }


def cleanup(worker, bench, var_dir: Path, own_vhost: bool) -> None:
    """Stop the worker and listeners, drop the database and the vhost, remove the var dir."""
    if worker is not None:
        worker.stop()
    if bench is not None:
        bench.stop_listeners()
    release(BENCH_DB, BENCH_VHOST, own_vhost, var_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=2000, help="tasks/jobs per throughput run (default 2000)"
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="jobs per transaction in the batched run"
    )
    parser.add_argument(
        "--idle", type=int, default=200, help="one-at-a-time samples for idle latency"
    )
    parser.add_argument(
        "--concurrency",
        "-c",
        type=int,
        help="worker pool size (default 2; with --embedded 1, as `lms up` runs it)",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="SQLite + the filesystem broker in a temporary folder (no servers)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="abort (cleaning up) after this many seconds"
    )
    parser.add_argument(
        "--no-monitoring",
        action="store_true",
        help="skip the burst with `lms monitor` and `lms beat` running",
    )
    args = parser.parse_args(argv)
    if args.concurrency is None:
        args.concurrency = 1 if args.embedded else 2

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    if args.embedded:
        return main_embedded(args, started, load_before)
    try:
        results = run(args)
    except BenchAborted as error:
        print(f"bench: aborted: {error}", file=sys.stderr)
        return 1
    raw, jobs, raw_drain, jobs_drain = (
        results[k] for k in ("raw", "jobs", "raw_drain", "jobs_drain")
    )
    raw_idle, jobs_idle = results["raw_idle"], results["jobs_idle"]
    batched = results["jobs_batched"]
    print()
    print_table([(row["label"], row) for row in results.values()])
    print()
    print(
        f"jobs/raw throughput: {jobs['per_s'] / raw['per_s']:.3f} end to end "
        "(1 job per transaction); "
        f"{jobs_drain['per_s'] / raw_drain['per_s']:.3f} worker drain"
    )
    print(
        f"enqueue_many/raw send rate: {batched['send_per_s'] / raw['send_per_s']:.3f} "
        f"({batched['send_per_s']:.0f} vs {raw['send_per_s']:.0f} per s; target 0.8)"
    )
    monitored = results.get("jobs_monitored")
    plain = cost_ratio = spread = None
    if monitored:
        plain = (jobs["per_s"] + results["jobs_again"]["per_s"]) / 2
        cost_ratio = monitored["per_s"] / plain
        spread = abs(jobs["per_s"] - results["jobs_again"]["per_s"]) / plain
        print(
            f"monitoring cost: monitored burst at {cost_ratio:.3f} "
            "of the plain bursts' mean throughput "
            f"({1 - cost_ratio:+.1%} cost; target under 10 %); "
            f"the two plain bursts differ by {spread:.1%}; "
            f"CPU used: monitor {monitored['monitor_cpu_s'] or 0:.1f} s, "
            f"beat {monitored['beat_cpu_s'] or 0:.1f} s "
            f"in {monitored['seconds']:.0f} s; "
            f"monitor discrepancies {monitored['monitor_discrepancies']}, "
            f"exit {monitored['monitor_exit']}"
        )
    print(
        f"job events stored per job: {jobs['events_per_job']:.1f}; worker -c {args.concurrency}; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs; "
        f"run took {time.monotonic() - started:.0f} s"
    )

    def r(value: float, digits: int = 1) -> float:
        return round(value, digits)

    def cpu_ms(row: dict) -> float | None:
        return None if row.get("worker_cpu_ms") is None else r(row["worker_cpu_ms"], 2)

    summary = {
        "n": args.n,
        "concurrency": args.concurrency,
        "raw_per_s": r(raw["per_s"]),
        "raw_send_per_s": r(raw["send_per_s"]),
        "raw_start_p50_ms": r(raw["start_p50_ms"], 2),
        "raw_start_p99_ms": r(raw["start_p99_ms"], 2),
        "jobs_per_s": r(jobs["per_s"]),
        "jobs_enqueue_per_s": r(jobs["send_per_s"]),
        "jobs_start_p50_ms": r(jobs["start_p50_ms"], 2),
        "jobs_start_p99_ms": r(jobs["start_p99_ms"], 2),
        "ratio": r(jobs["per_s"] / raw["per_s"], 3),
        "jobs_monitored_per_s": r(monitored["per_s"]) if monitored else None,
        "jobs_monitored_start_p50_ms": r(monitored["start_p50_ms"], 2) if monitored else None,
        "jobs_monitored_start_p99_ms": r(monitored["start_p99_ms"], 2) if monitored else None,
        "jobs_plain_again_per_s": r(results["jobs_again"]["per_s"]) if monitored else None,
        "monitoring_cost_ratio": r(cost_ratio, 3) if monitored else None,
        "monitoring_plain_spread": r(spread, 3) if monitored else None,
        "monitor_cpu_s": r(monitored["monitor_cpu_s"] or 0, 2) if monitored else None,
        "beat_cpu_s": r(monitored["beat_cpu_s"] or 0, 2) if monitored else None,
        "batch": args.batch,
        "batched_enqueue_per_s": r(batched["send_per_s"]),
        "batched_enqueue_ratio": r(batched["send_per_s"] / raw["send_per_s"], 3),
        "jobs_per_transaction_enqueue_per_s": r(jobs_drain["send_per_s"]),
        "raw_drain_per_s": r(raw_drain["per_s"]),
        "jobs_drain_per_s": r(jobs_drain["per_s"]),
        "drain_ratio": r(jobs_drain["per_s"] / raw_drain["per_s"], 3),
        # CPU of the worker (main process + pool) per task during the drains.
        "raw_drain_worker_cpu_ms": cpu_ms(raw_drain),
        "jobs_drain_worker_cpu_ms": cpu_ms(jobs_drain),
        "idle_samples": args.idle,
        "raw_idle_start_p50_ms": r(raw_idle["start_p50_ms"], 2),
        "raw_idle_start_p99_ms": r(raw_idle["start_p99_ms"], 2),
        "jobs_idle_start_p50_ms": r(jobs_idle["start_p50_ms"], 2),
        "jobs_idle_start_p99_ms": r(jobs_idle["start_p99_ms"], 2),
        "load_avg_before": r(load_before, 2),
        "seconds": r(time.monotonic() - started),
    }
    print(json.dumps(summary))
    return 0


def main_embedded(args: argparse.Namespace, started: float, load_before: float) -> int:
    try:
        results = run_embedded(args)
    except BenchAborted as error:
        print(f"bench: aborted: {error}", file=sys.stderr)
        return 1
    print()
    print_table([(row["label"], row) for row in results.values()])
    print()
    summary = embedded_summary(args, results, load_before)
    print(
        f"embedded jobs/raw throughput: {summary['embedded_ratio']:.3f}; "
        f"worker -c {args.concurrency}; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs; "
        f"run took {time.monotonic() - started:.0f} s"
    )
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
