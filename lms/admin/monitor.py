"""The Celery events monitor (`lms monitor`): live task and worker events, reconciled with
the job rows.

Workers run with `-E`, so they announce every task (received, started, succeeded, failed,
retried, revoked) and send a heartbeat every couple of seconds. This process listens to
those events over the broker and compares them with what the jobs table says:

- the rows stay authoritative: the monitor never marks a job SUCCEEDED or FAILED (the job's
  own transaction does that). When Celery and a row disagree it writes a job event that
  says so (visible in `jobDetails`, `jobEventHistory` and on `jobEvents`);
- the one state it settles itself is a revoked task whose job is still waiting or
  running: Celery will never run it, so the job is marked CANCELLED (with the reason)
  instead of waiting forever;
- worker liveness: the last heartbeat goes to the known-workers table; a worker whose
  heartbeats stop (Celery's rule: two missed intervals) or that goes offline raises the
  WORKER_GONE alert at once, not at the next scheduled evaluation, and the jobs it was
  running get an event saying the broker will redeliver them;
- live stats: after task activity it publishes a `queueStatsUpdated` snapshot (at most
  every `stats_seconds`), so the operator page moves with the work.

Unlike Flower it keeps no history in memory: only tasks in flight (bounded, oldest
forgotten first) and one entry per worker; the history is in the database.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.admin.errors import AdminCode
from lms.admin.models import KnownWorker
from lms.config import Settings, get_settings
from lms.db import session_scope
from lms.events.bus import publish_event
from lms.events.topics import ALERT, QUEUE_STATS
from lms.jobs import states
from lms.jobs.alerts import alert_view
from lms.jobs.models import TERMINAL, AlertSeverity, Job, JobStatus, QueueAlert
from lms.jobs.service import after_commit, record_event
from lms.models import utcnow

log = logging.getLogger(__name__)
_JOB_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_FINISHED = {"task-succeeded": "SUCCEEDED", "task-failed": "FAILED", "task-revoked": "REVOKED"}


@dataclass(frozen=True)
class MonitorOptions:
    # Celery announces a task around the job's own transaction; give that transaction this
    # long to land before calling a difference a discrepancy.
    grace_seconds: float = 5.0
    tick_seconds: float = 0.5
    heartbeat_write_seconds: float = 10.0  # last heartbeat to the database, per worker
    stats_seconds: float = 5.0  # each snapshot is a handful of aggregate queries
    expire_window: float = 2.0  # gone after this many missed heartbeat intervals (Celery's 200 %)
    max_tasks: int = 10_000  # tasks in flight kept in memory; the oldest are forgotten
    max_workers: int = 1_000
    reconnect_max_seconds: float = 30.0


@dataclass
class TaskSeen:
    """What Celery said about one task (only while it is in flight)."""

    task_id: str
    job_id: uuid.UUID | None = None
    name: str | None = None
    hostname: str | None = None
    state: str = "RECEIVED"
    received_at: float | None = None  # worker's wall clock (same machine or NTP)
    started_at: float | None = None
    detail: str | None = None


@dataclass
class WorkerSeen:
    hostname: str
    freq: float = 2.0
    last_beat: float = 0.0  # monotonic, on receipt: immune to the worker's clock
    last_beat_at: datetime = field(default_factory=utcnow)
    written_at: float = float("-inf")
    gone: bool = False
    gone_reason: str | None = None

    def expired(self, now: float, window: float) -> bool:
        return now - self.last_beat > self.freq * window


@dataclass(frozen=True)
class Check:
    """A reconciliation due at `due` (monotonic): the task's Celery state against its row."""

    due: float
    task: TaskSeen
    state: str


class MonitorState:
    """The in-memory side: event bookkeeping with bounded memory, no I/O."""

    def __init__(self, options: MonitorOptions) -> None:
        self.options = options
        self.tasks: OrderedDict[str, TaskSeen] = OrderedDict()
        self.workers: dict[str, WorkerSeen] = {}
        self.checks: deque[Check] = deque(maxlen=options.max_tasks)
        self.counts: Counter[str] = Counter()
        self.newly_gone: list[WorkerSeen] = []
        self.back: list[WorkerSeen] = []
        self.activity = False  # task events since the last stats snapshot

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        self.counts[kind] += 1
        if kind.startswith("worker-"):
            self._on_worker(kind, event)
        elif kind.startswith("task-"):
            self.activity = True
            self._on_task(kind, event)

    def _on_worker(self, kind: str, event: dict[str, Any]) -> None:
        hostname = event.get("hostname")
        if not hostname:
            return
        worker = self.workers.get(hostname)
        if worker is None:
            if len(self.workers) >= self.options.max_workers:
                self._forget_a_worker()
            worker = self.workers[hostname] = WorkerSeen(hostname)
        if kind == "worker-offline":
            if not worker.gone:
                worker.gone, worker.gone_reason = True, "went offline (shut down)"
                self.newly_gone.append(worker)
            return
        worker.freq = float(event.get("freq") or worker.freq)
        worker.last_beat, worker.last_beat_at = time.monotonic(), utcnow()
        if worker.gone:
            worker.gone, worker.gone_reason = False, None
            self.back.append(worker)

    def _forget_a_worker(self) -> None:
        victim = next((w for w in self.workers.values() if w.gone), None) or next(
            iter(self.workers.values())
        )
        del self.workers[victim.hostname]

    def _on_task(self, kind: str, event: dict[str, Any]) -> None:
        task_id = event.get("uuid")
        if not task_id:
            return
        task = self.tasks.get(task_id)
        if task is None:
            task = self._track(task_id)
        else:
            self.tasks.move_to_end(task_id)
        if event.get("hostname") and kind != "task-sent":
            task.hostname = event["hostname"]
        if kind in ("task-sent", "task-received"):
            task.name = event.get("name") or task.name
            task.job_id = task.job_id or _job_id(event.get("args"))
            task.received_at = event.get("timestamp")
            task.state = "RECEIVED" if kind == "task-received" else "SENT"
        elif kind == "task-started":
            task.state, task.started_at = "STARTED", event.get("timestamp")
        elif kind == "task-retried":
            task.state, task.detail = "RETRIED", event.get("exception")
        elif kind in _FINISHED:
            task.state = _FINISHED[kind]
            task.detail = event.get("exception") or _revoke_reason(event)
            self.tasks.pop(task_id, None)  # done: nothing more to learn about it
            # A revoked task is announced without its arguments: its job is found by task id.
            if task.job_id is not None or task.state == "REVOKED":
                self.checks.append(
                    Check(time.monotonic() + self.options.grace_seconds, task, task.state)
                )

    def _track(self, task_id: str) -> TaskSeen:
        while len(self.tasks) >= self.options.max_tasks:
            self.tasks.popitem(last=False)
            self.counts["forgotten"] += 1
        task = self.tasks[task_id] = TaskSeen(task_id)
        return task

    def due_checks(self, now: float) -> list[Check]:
        due = []
        while self.checks and self.checks[0].due <= now:
            due.append(self.checks.popleft())
        return due

    def expire_workers(self, now: float) -> None:
        for worker in self.workers.values():
            if not worker.gone and worker.expired(now, self.options.expire_window):
                worker.gone = True
                worker.gone_reason = (
                    f"stopped sending heartbeats (expected every {worker.freq:g} s; "
                    f"last at {worker.last_beat_at.isoformat(timespec='seconds')})"
                )
                self.newly_gone.append(worker)

    def in_flight_on(self, hostname: str) -> list[TaskSeen]:
        return [
            t
            for t in self.tasks.values()
            if t.hostname == hostname and t.state in ("RECEIVED", "STARTED")
        ]

    def excuse_silence(self) -> None:
        """After a broker outage we heard nobody: that says nothing about the workers."""
        now = time.monotonic()
        for worker in self.workers.values():
            if not worker.gone:
                worker.last_beat = now


def _job_id(args: Any) -> uuid.UUID | None:
    """Job tasks take the job id as their only argument (a repr string in events)."""
    if isinstance(args, (list, tuple)):
        args = " ".join(map(str, args))
    match = _JOB_ID.search(args) if isinstance(args, str) else None
    return uuid.UUID(match.group(0)) if match else None


def _revoke_reason(event: dict[str, Any]) -> str | None:
    if event.get("type") != "task-revoked":
        return None
    if event.get("expired"):
        return "expired"
    if event.get("terminated"):
        return f"terminated (signal {event.get('signum')})"
    return "revoked"


def _clock(timestamp: float | None) -> str:
    if not timestamp:
        return "?"
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class Monitor:
    """The I/O side: the events receiver loop and the database and bus writes."""

    def __init__(
        self, settings: Settings | None = None, options: MonitorOptions | None = None
    ) -> None:
        from lms.jobs.broker import make_celery

        self.settings = settings or get_settings()
        self.options = options or MonitorOptions()
        self.state = MonitorState(self.options)
        self.app = make_celery(self.settings, main="lyceum-monitor")
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._receiver = None
        self._last_tick = self._last_stats = self._last_report = time.monotonic()

    # the loop ------------------------------------------------------------------------------

    def stop(self, *_signal_args: Any) -> None:
        self.stopping.set()
        if self._receiver is not None:
            self._receiver.should_stop = True

    def run(self) -> int:
        """Listen until stopped, reconnecting (with backoff) whenever the broker goes away."""
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                self._listen()
                backoff = 1.0
            except Exception as error:  # noqa: BLE001 - broker loss, or a bug: never exit on it
                if self.stopping.is_set():
                    break
                log.warning(
                    "monitor: broker connection lost (%s: %s); reconnecting in %.0f s",
                    type(error).__name__,
                    error,
                    backoff,
                )
                self.ready.clear()
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, self.options.reconnect_max_seconds)
        self._tick(force=True)  # what is due now still gets written
        log.info("monitor: stopped")
        return 0

    def _listen(self) -> None:
        monitor = self

        class Receiver(self.app.events.Receiver):
            connect_max_retries = (
                1  # kombu would retry forever, deaf to SIGTERM; we back off ourselves
            )
            consuming = None

            def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
                self.consuming = connection
                super().on_consume_ready(
                    connection, channel, consumers, **kwargs
                )  # asks workers for a heartbeat
                monitor.state.excuse_silence()
                monitor.ready.set()
                print(
                    f"lms: monitor listening for Celery events on {monitor._broker_name()}",
                    flush=True,
                )

            def on_iteration(self) -> None:
                monitor._tick(connection=self.consuming)

        with self.app.connection_for_read() as connection:
            # Fail fast instead of kombu's endless silent retry, so SIGTERM is honoured.
            connection.ensure_connection(max_retries=1, timeout=5)
            self._receiver = Receiver(connection, handlers={"*": self.state.on_event})
            if self.stopping.is_set():
                return
            for _ in self._receiver.consume(
                limit=None, timeout=None, safety_interval=self.options.tick_seconds
            ):
                pass
        if not self.stopping.is_set():
            raise ConnectionError("event consumer ended")

    def _broker_name(self) -> str:
        return self.settings.broker_url.split("@")[-1]

    # periodic work -------------------------------------------------------------------------

    def _tick(self, connection=None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_tick < self.options.tick_seconds:
            return
        self._last_tick = now
        if connection is not None:
            connection.heartbeat_check()  # AMQP heartbeats even when events never pause
        if self.ready.is_set():
            self.state.expire_workers(now)
        for step in (
            self._workers_changed,
            self._reconcile,
            self._write_heartbeats,
            self._publish_stats,
        ):
            try:
                step(now, force)
            except Exception:  # noqa: BLE001 - the database may be away; the next tick retries
                log.exception("monitor: %s failed", step.__name__)
        if now - self._last_report >= 60:
            self._last_report = now
            alive = sum(1 for w in self.state.workers.values() if not w.gone)
            log.info(
                "monitor: %d workers alive, %d tasks in flight, events %s",
                alive,
                len(self.state.tasks),
                dict(self.state.counts),
            )

    def _workers_changed(self, _now: float, _force: bool) -> None:
        gone, back = self.state.newly_gone, self.state.back
        if not gone and not back:
            return
        with session_scope(self.settings) as session:
            for worker in gone:
                self._worker_gone(session, worker)
            for worker in back:
                self._worker_back(session, worker)
        self.state.newly_gone, self.state.back = [], []

    def _worker_gone(self, session: Session, worker: WorkerSeen) -> None:
        log.warning("monitor: worker %s %s", worker.hostname, worker.gone_reason)
        _remember_worker(session, worker.hostname, worker.last_beat_at)
        worker.written_at = time.monotonic()
        in_flight = {t.job_id: t for t in self.state.in_flight_on(worker.hostname) if t.job_id}
        # Its running jobs: those Celery told us about and those the rows place on it.
        mine = (Job.status == JobStatus.RUNNING) & (Job.worker == worker.hostname)
        query = select(Job).where(
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING)),
            (Job.id.in_(list(in_flight)) | mine) if in_flight else mine,
        )
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        rows = session.scalars(query).all()
        affected = 0
        for job in rows:
            task = in_flight.get(job.id)
            if job.status != JobStatus.RUNNING and not (task and task.state == "STARTED"):
                continue  # only prefetched: the broker hands it to another worker, nothing to say
            affected += 1
            celery = "Celery had not reported it"
            if task is not None:
                celery = f"Celery reported task {task.task_id} received {_clock(task.received_at)}"
                if task.started_at:
                    celery += f" and started {_clock(task.started_at)}"
            state = (
                "running" if job.status == JobStatus.RUNNING else "starting (never marked RUNNING)"
            )
            record_event(
                session,
                job,
                settings=self.settings,
                error_code=states.WORKER_LOST,
                message=(
                    f"monitor: worker {worker.hostname} {worker.gone_reason} while this job was "
                    f"{state}; "
                    f"{celery}; it runs again once its lease expires"
                )[:500],
            )
        reason = f"worker {worker.hostname} {worker.gone_reason}"
        if affected:
            reason += f"; {affected} running job(s) will be redelivered"
        _raise_worker_gone(session, worker.hostname, reason, self.settings)

    def _worker_back(self, session: Session, worker: WorkerSeen) -> None:
        log.info("monitor: worker %s is back", worker.hostname)
        _remember_worker(session, worker.hostname, worker.last_beat_at)
        worker.written_at = time.monotonic()
        now = utcnow()
        for alert in session.scalars(
            select(QueueAlert).where(
                QueueAlert.rule == "WORKER_GONE",
                QueueAlert.target == worker.hostname,
                QueueAlert.cleared_at.is_(None),
                QueueAlert.resolved_at.is_(None),
            )
        ):
            alert.resolved_at = now  # stays open until an operator clears it, like every alert

    def _write_heartbeats(self, now: float, force: bool) -> None:
        stale = [
            w
            for w in self.state.workers.values()
            if not w.gone
            and (force or now - w.written_at >= self.options.heartbeat_write_seconds)
            and w.last_beat > w.written_at
        ]
        if not stale:
            return
        with session_scope(self.settings) as session:
            for worker in stale:
                _remember_worker(session, worker.hostname, worker.last_beat_at)
        for worker in stale:
            worker.written_at = now

    def _reconcile(self, now: float, force: bool) -> None:
        checks = self.state.due_checks(float("inf") if force else now)
        if not checks:
            return
        by_job = {c.task.job_id: c for c in checks if c.task.job_id is not None}
        by_task = {c.task.task_id: c for c in checks if c.task.job_id is None}
        with session_scope(self.settings) as session:
            query = select(Job.id, Job.status, Job.celery_task_id)
            found = []
            if by_job:
                found += session.execute(query.where(Job.id.in_(list(by_job)))).all()
            if by_task:  # revoked tasks never received here: rare, and only unfinished rows
                found += session.execute(
                    query.where(
                        Job.celery_task_id.in_(list(by_task)),
                        Job.status.not_in(tuple(TERMINAL)),
                    )
                ).all()
            for job_id, status, task_id in found:
                check = by_job.get(job_id) or by_task.get(task_id)
                if check is None or status in TERMINAL:
                    continue  # the row already tells the end of the story
                if task_id not in (None, check.task.task_id):
                    continue  # the job has moved on to another delivery (a retry, a relay)
                self._discrepancy(session, job_id, check)

    def _discrepancy(self, session: Session, job_id: uuid.UUID, check: Check) -> None:
        task = check.task
        job = _locked(session, job_id)
        if job is None or job.status in TERMINAL:
            return
        self.state.counts[f"discrepancy-{check.state.lower()}"] += 1
        where = f" on {task.hostname}" if task.hostname else ""
        if check.state == "REVOKED":
            # Celery will never run it: settle the row rather than leave it waiting forever.
            log.warning(
                "monitor: task %s of job %s was revoked (%s); cancelling the job",
                task.task_id,
                job.id,
                task.detail,
            )
            states.change(
                session,
                job,
                status=JobStatus.CANCELLED,
                settings=self.settings,
                event_code="TASK_REVOKED",
                message=f"monitor: Celery revoked task {task.task_id}{where} ({task.detail}); "
                f"it will never run, so the job is cancelled",
                finished_at=utcnow(),
            )
            return
        log.warning(
            "monitor: Celery says task %s %s but job %s is %s",
            task.task_id,
            check.state,
            job.id,
            job.status,
        )
        outcome = (
            "succeeded" if check.state == "SUCCEEDED" else f"failed ({task.detail or 'no detail'})"
        )
        record_event(
            session,
            job,
            settings=self.settings,
            error_code=AdminCode.CELERY_MISMATCH,
            message=(
                f"monitor: Celery reported task {task.task_id} {outcome}{where} "
                f"but the job is still {job.status.value} "
                f"after {self.options.grace_seconds:g} s; the job row stays as it is"
            )[:500],
        )

    def _publish_stats(self, now: float, force: bool) -> None:
        if not self.state.activity or (
            not force and now - self._last_stats < self.options.stats_seconds
        ):
            return
        from lms.admin.broker_stats import queue_depths
        from lms.admin.stats import collect_stats, snapshot_event
        from lms.jobs.queues import QUEUES

        self.state.activity, self._last_stats = False, now
        depths = queue_depths(QUEUES, self.settings)
        with session_scope(self.settings) as session:
            stats = collect_stats(session, depths, None)
        publish_event(QUEUE_STATS, snapshot_event(stats), self.settings)


def _locked(session: Session, job_id: uuid.UUID) -> Job | None:
    query = select(Job).where(Job.id == job_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def _remember_worker(session: Session, hostname: str, last_seen_at: datetime) -> None:
    """Upsert the worker's last heartbeat into the known-workers table."""
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(KnownWorker).values(
        hostname=hostname,
        queues=[],
        first_seen_at=last_seen_at,
        last_seen_at=last_seen_at,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[KnownWorker.hostname],
            set_={"last_seen_at": statement.excluded.last_seen_at},
        )
    )


def _raise_worker_gone(session: Session, hostname: str, message: str, settings: Settings) -> None:
    """The WORKER_GONE alert the scheduled rules would raise, now; same key, so no duplicate."""
    now = utcnow()
    alert = session.scalars(
        select(QueueAlert).where(
            QueueAlert.rule == "WORKER_GONE",
            QueueAlert.target == hostname,
            QueueAlert.queue.is_(None),
            QueueAlert.cleared_at.is_(None),
        )
    ).first()
    if alert is None:
        alert = QueueAlert(
            id=uuid.uuid4(),
            queue=None,
            rule="WORKER_GONE",
            target=hostname,
            severity=AlertSeverity.CRITICAL,
            message=message[:500],
            value=None,
            threshold=None,
            raised_at=now,
            last_seen_at=now,
            details={"source": "monitor"},
        )
        session.add(alert)
    elif alert.resolved_at is not None or alert.severity != AlertSeverity.CRITICAL:
        alert.severity, alert.resolved_at, alert.message, alert.last_seen_at = (
            AlertSeverity.CRITICAL,
            None,
            message[:500],
            now,
        )
    else:
        alert.last_seen_at = now
        return  # already open and current: nothing new to publish
    session.flush()
    view = alert_view(alert)
    after_commit(session, lambda: publish_event(ALERT, view, settings))


def run_monitor(settings: Settings | None = None, options: MonitorOptions | None = None) -> int:
    """`lms monitor`: run until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    monitor = Monitor(settings, options)
    signal.signal(signal.SIGTERM, monitor.stop)
    signal.signal(signal.SIGINT, monitor.stop)
    return monitor.run()


__all__ = ["Monitor", "MonitorOptions", "MonitorState", "run_monitor"]
