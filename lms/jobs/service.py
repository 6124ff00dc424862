"""Requesting, publishing, relaying, cancelling and retrying jobs.

A job row is inserted in the caller's transaction and published only after that
transaction commits (a transactional outbox): rolled-back changes start no work, and a
commit whose publish was lost is picked up by `relay_unpublished`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, false, or_, select, update
from sqlalchemy.orm import Session

from lms.config import Settings, get_settings
from lms.errors import Conflict, NotFound
from lms.events.bus import publish_event_group
from lms.jobs import publishing, stamps, states
from lms.jobs.broker import publisher
from lms.jobs.confirms import KeptChannel, TaskMessage
from lms.jobs.engine import job_engine
from lms.jobs.models import TERMINAL, Job, JobStatus, QueueState
from lms.jobs.queues import queue_for
from lms.jobs.records import insert_queued, queued_row
from lms.jobs.settings import job_settings
from lms.jobs.states import JOB_TOPIC, job_event_data, record_event  # noqa: F401 - re-exported
from lms.models import utcnow
from lms.observability import tracing
from lms.observability.metrics import RELAY_REPUBLISHED

log = logging.getLogger(__name__)
_PENDING = "lms.jobs.pending"
_AFTER_COMMIT = "lms.jobs.after_commit"
_AT_COMMIT = "lms.jobs.at_commit"
_DRAINING = "lms.jobs.draining"
_ENQUEUED = "lms.jobs.enqueued"


@dataclass(frozen=True)
class Outgoing:
    job_id: uuid.UUID
    kind: str
    queue: str
    settings: Settings | None = None
    # Until then this publisher owns the publishing (set with the row); past it, it must
    # claim the row again first, since a relay may have taken it over.
    claimed_until: datetime | None = None
    traceparent: str | None = None  # sent as a message header (lms/observability/tracing)
    event: dict[str, Any] | None = None  # its QUEUED bus event, sent just before the job


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    subject: tuple[str, str] | None = None,
    requested_by_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    max_attempts: int | None = None,
    settings: Settings | None = None,
) -> Job:
    """Record a job in `session`'s transaction; it is published after that commit."""
    attributes = {"lms.job.kind": kind, "lms.job.queue": queue_for(kind)}
    # The span stands for the enqueue's INSERT: one span per job fewer than a SQL span each.
    with tracing.span(
        f"enqueue {kind}", kind="PRODUCER", attributes=attributes, covers_sql=True
    ) as current:
        job = _enqueue(
            session, kind, payload, subject, requested_by_id, parent_id, max_attempts, settings
        )
        if current is not None:
            current.set_attribute("lms.job.id", str(job.id))
        return job


def _enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None,
    subject: tuple[str, str] | None,
    requested_by_id: uuid.UUID | None,
    parent_id: uuid.UUID | None,
    max_attempts: int | None,
    settings: Settings | None,
) -> Job:
    settings = settings or get_settings()
    queue = queue_for(kind)
    if _draining(session, queue):
        raise draining_refusal(queue)
    now = utcnow()
    claim = now + timedelta(seconds=settings.relay_after_seconds)
    values = {
        **_UNSET,
        **queued_row(
            kind,
            queue,
            payload,
            subject,
            requested_by_id,
            parent_id,
            max_attempts or settings.job_max_attempts,
            now,
        ),
        "progress": 0.0,
        "attempts": 0,
        "cancel_requested": False,
        "publish_claimed_until": claim,
        "traceparent": tracing.current_traceparent(),  # the enqueue span's
    }
    if not session.info.get(_ENQUEUED):
        # The first job of a transaction: one statement (row, event, draining check).
        recorded = insert_queued(session, values, "queued")
        session.info.setdefault(_DRAINING, {})[queue] = recorded is None
        if recorded is None:
            raise draining_refusal(queue)
        job, event = recorded
        # Sent after commit by the publishing thread, right before the job's message.
        queued = job_event_data(job, event)
    else:  # a fan-out: the ORM batches these rows into one INSERT per table at flush
        job = Job(**values)
        session.add(job)
        record_event(session, job, message="queued", settings=settings)
        queued = None
    session.info[_ENQUEUED] = True
    _publish_after_commit(
        session, Outgoing(job.id, kind, job.queue, settings, claim, job.traceparent, queued)
    )
    return job


# Every column of a new job that enqueue does not set.
_UNSET = {column.key: None for column in Job.__table__.columns}


def draining_refusal(queue: str) -> Conflict:
    """What a producer is told when an operator drains `queue` (`enqueue`, `enqueue_many`)."""
    return Conflict(
        f"the {queue} queue is draining and accepts no new jobs; try again later",
        code="QUEUE_DRAINING",
        queue=queue,
    )


def _draining(session: Session, queue: str) -> bool:
    """Whether an operator is draining `queue` (lms.admin.queues): one primary-key read per
    queue and transaction, so a fan-out of many jobs pays it once (the first job of a
    transaction checks it within its own INSERT instead)."""
    known = session.info.setdefault(_DRAINING, {})
    if queue not in known and session.info.get(_ENQUEUED):
        with session.no_autoflush:  # the caller's pending rows are none of this read's business
            known[queue] = bool(
                session.execute(
                    select(QueueState.draining).where(QueueState.queue == queue)
                ).scalar()
            )
    return known.get(queue, False)


def _publish_after_commit(session: Session, outgoing: Outgoing) -> None:
    session.info.setdefault(_PENDING, []).append(outgoing)


def after_commit(session: Session, callback, *, inline: bool = False) -> None:
    """Run `callback()` once this session's transaction has committed (dropped on rollback).

    `inline`: a callback that only hands work to a thread of its own and never blocks runs
    in the committing thread, at once, instead of on the publishing threads, where it would
    wait behind other commits' job publishes (each a broker round trip for its confirm).
    """
    session.info.setdefault(_AT_COMMIT if inline else _AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _flush_outbox(session: Session) -> None:
    session.info.pop(_DRAINING, None)
    session.info.pop(_ENQUEUED, None)
    at_commit = session.info.pop(_AT_COMMIT, [])
    outgoing = session.info.pop(_PENDING, [])
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    if not outgoing and not callbacks:
        _run(at_commit)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        # A synchronous caller: fan-out bursts and bus events now; the jobs' messages (each
        # after its QUEUED event) on the publishing threads, so the caller's next
        # transaction does not wait for the broker. A burst goes before the hand-off to
        # the events' thread: 10,000 live events of a fan-out would hold the GIL while the
        # burst waits for its confirms (it took 35-70 ms behind them, 30 jobs).
        _run(callbacks)
        _run(at_commit)
        if outgoing:
            _SENDING.add(([], outgoing))
    else:
        _run(at_commit)
        # In the API, broker round trips must not stall the event loop nor borrow its
        # default executor (argon2, the health probe): publishing has threads of its own.
        # A process dying before they run loses nothing: the relay publishes what was
        # committed but never published.
        _SENDING.add((callbacks, outgoing))


def _run(callbacks: list) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit stands; the relay/bus recover
            log.exception("after-commit callback failed")


def _deliver(entries: list[tuple[list, list[Outgoing]]]) -> None:
    """What the commits since the last batch left to send, on a publishing thread: each
    commit's callbacks and QUEUED events first (a subscriber sees QUEUED before a worker's
    RUNNING), then every job of the batch, in confirm mode with one round trip."""
    by_broker: dict[tuple[str, str], list[Outgoing]] = {}
    queued: dict[tuple[str, str], tuple[Settings, list[dict]]] = {}  # QUEUED events to send

    def send_queued() -> None:  # as group messages, one per broker (and up to 100 events)
        for settings, events in queued.values():
            publish_event_group(JOB_TOPIC, events, settings, keep_producer=True)
        queued.clear()

    for callbacks, outgoing in entries:
        if callbacks:  # after the events of the commits before, as they were committed
            send_queued()
            _run(callbacks)
        for item in outgoing:
            settings = item.settings or get_settings()
            key = (settings.broker_url, str(settings.var_dir))
            if item.event is not None:
                queued.setdefault(key, (settings, []))[1].append(item.event)
            by_broker.setdefault((settings.broker_url, settings.database_url), []).append(item)
    send_queued()
    for items in by_broker.values():
        settings = items[0].settings or get_settings()
        if publishing.broker_down(settings.broker_url):  # the relay sends them, from now on
            _give_up_claims(items, settings)
        elif _publish(items, settings, stamp_later=True, batched=True)[1]:
            publishing.mark_down(settings.broker_url)
        else:
            publishing.mark_up(settings.broker_url)


_SENDING = publishing.Batches(_deliver)


@event.listens_for(Session, "after_soft_rollback")
def _drop_outbox(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # only the outermost rollback drops work
        session.info.pop(_PENDING, None)
        session.info.pop(_AFTER_COMMIT, None)
        session.info.pop(_AT_COMMIT, None)
        session.info.pop(_DRAINING, None)
        session.info.pop(_ENQUEUED, None)


def publish_jobs(
    outgoing: list[Outgoing], settings: Settings | None = None, *, stamp_later: bool = False
) -> int:
    """Send each job to its queue, then stamp `published_at`. Failures are left to the relay.

    `stamp_later`: the stamps go to the writer thread, batched with others (lms.jobs.stamps).

    Only the owner of a row's publish claim publishes it: an item whose claim is running
    out is claimed again first (and skipped if a relay took it), so a slow after-commit
    publish and the relay never both send a job.
    """
    return len(_publish(outgoing, settings or get_settings(), stamp_later=stamp_later)[0])


def _publish(
    outgoing: list[Outgoing], settings: Settings, *, stamp_later: bool, batched: bool = False
) -> tuple[list[tuple[uuid.UUID, str]], list[uuid.UUID]]:
    """`publish_jobs`: (job id, task id) of the jobs sent, ids of those that failed.
    `batched`: on RabbitMQ, every message first, then their confirms (lms.jobs.confirms)."""
    margin = timedelta(seconds=settings.relay_after_seconds / 2)
    now = utcnow()
    owned = [
        item
        for item in outgoing
        if (item.claimed_until is not None and now <= item.claimed_until - margin)
        or _claim_again(item, settings)
    ]
    if batched and not settings.broker_is_filesystem:
        messages = [
            TaskMessage(item.kind, item.queue, item.job_id, str(uuid.uuid4()), item.traceparent)
            for item in owned
        ]
        acked = KeptChannel.publish(settings, messages)
        published = [(m.job_id, m.task_id) for m, ok in zip(messages, acked, strict=True) if ok]
        failed = [m.job_id for m, ok in zip(messages, acked, strict=True) if not ok]
    else:
        published, failed = _send_each(owned, settings)
    if published:
        (stamps.write_later if stamp_later else stamps.write)(published, settings)
    if failed:
        _release_claims(failed, settings)
    return published, failed


def _send_each(
    outgoing: list[Outgoing], settings: Settings
) -> tuple[list[tuple[uuid.UUID, str]], list[uuid.UUID]]:
    """`send_task` per job, each waiting for its confirm (the relay; the filesystem broker)."""
    app = publisher(settings)
    published: list[tuple[uuid.UUID, str]] = []
    failed: list[uuid.UUID] = []
    for item in outgoing:
        task_id = str(uuid.uuid4())
        try:
            app.send_task(
                item.kind,
                args=[str(item.job_id)],
                task_id=task_id,
                queue=item.queue,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
                headers={"traceparent": item.traceparent} if item.traceparent else None,
            )
        except Exception:  # noqa: BLE001 - committed work is never lost: the relay republishes
            log.warning(
                "publish of job %s failed; the relay will retry", item.job_id, exc_info=True
            )
            failed.append(item.job_id)
            continue
        published.append((item.job_id, task_id))
    return published, failed


_JOBS = Job.__table__
_UNPUBLISHED = (_JOBS.c.published_at.is_(None), _JOBS.c.status == JobStatus.QUEUED)


def _claim_free(now: datetime):
    return or_(_JOBS.c.publish_claimed_until.is_(None), _JOBS.c.publish_claimed_until < now)


def _execute(settings: Settings, statement, params=None, *, durable: bool = True) -> list:
    """Run one statement on its own (autocommit on PostgreSQL); the rows it returned."""
    with job_engine(settings, durable=durable).begin() as connection:
        result = connection.execute(statement, params)
        return result.all() if result.returns_rows else []


def _claim_again(item: Outgoing, settings: Settings) -> bool:
    """Renew this publisher's claim on a row (or take a free one); False if another owns it."""
    now = utcnow()
    mine = (
        _JOBS.c.publish_claimed_until == item.claimed_until
        if item.claimed_until is not None
        else false()
    )
    claim = (
        update(_JOBS)
        .where(_JOBS.c.id == item.job_id, *_UNPUBLISHED, or_(mine, _claim_free(now)))
        .values(publish_claimed_until=now + timedelta(seconds=job_settings().publish_claim_seconds))
        .returning(_JOBS.c.id)
    )
    return bool(states.retrying_db(lambda: _execute(settings, claim), "publish claim"))


def _release_claims(job_ids: list[uuid.UUID], settings: Settings) -> None:
    release = (
        update(_JOBS)
        .where(_JOBS.c.id.in_(job_ids), _JOBS.c.published_at.is_(None))
        .values(publish_claimed_until=None)
    )
    try:
        _execute(settings, release)
    except Exception:  # noqa: BLE001 - the claim then simply expires
        log.warning("could not release publish claims", exc_info=True)


_GIVE_UP = (
    update(_JOBS)
    .where(
        _JOBS.c.id == bindparam("job_id"),
        _JOBS.c.published_at.is_(None),
        _JOBS.c.publish_claimed_until == bindparam("claimed_until"),  # still ours
    )
    .values(publish_claimed_until=None)
)


def _give_up_claims(outgoing: list[Outgoing], settings: Settings) -> None:
    """Hand jobs this publisher will not send to the relay at once (not when the claim
    lapses); a claim a relay has taken since is left alone."""
    rows = [
        {"job_id": item.job_id, "claimed_until": item.claimed_until}
        for item in outgoing
        if item.claimed_until is not None
    ]
    if not rows:
        return
    try:
        _execute(settings, _GIVE_UP, rows)
    except Exception:  # noqa: BLE001 - the claim then simply expires
        log.warning("could not give up publish claims", exc_info=True)


def _unstamp_stale(settings: Settings, now: datetime) -> None:
    """Jobs published long ago that never started become unpublished again, so the relay
    sends them anew: the message of one was consumed by a start that PostgreSQL lost in a
    crash (starts do not wait for the WAL flush; see docs/reliability.md)."""
    stale = (
        update(_JOBS)
        .where(
            _JOBS.c.status == JobStatus.QUEUED,
            _JOBS.c.published_at < now - timedelta(seconds=job_settings().republish_after_seconds),
        )
        .values(published_at=None, publish_claimed_until=None)
        .returning(_JOBS.c.id)
    )
    try:
        rows = states.retrying_db(lambda: _execute(settings, stale), "relay unstamp")
    except Exception:  # noqa: BLE001 - a safety net: the next round tries again
        log.warning("relay: could not look for jobs published long ago", exc_info=True)
        return
    if rows:
        log.warning(
            "relay: %d job(s) published long ago never started; sending them again", len(rows)
        )


def relay_unpublished(settings: Settings | None = None, *, older_than: float | None = None) -> int:
    """Publish jobs that were committed but never published (a crash between the two).

    Rows are claimed first with one guarded UPDATE (`SKIP LOCKED` on PostgreSQL), so two
    relays at once, or a relay and a late after-commit publish, never send the same job.
    """
    settings = settings or get_settings()
    wait = settings.relay_after_seconds if older_than is None else older_than
    now = utcnow()
    until = now + timedelta(seconds=job_settings().publish_claim_seconds)
    _unstamp_stale(settings, now)
    candidates = (
        select(_JOBS.c.id)
        .where(*_UNPUBLISHED, _JOBS.c.created_at <= now - timedelta(seconds=wait), _claim_free(now))
        .order_by(_JOBS.c.created_at)
        .limit(500)
    )
    engine = job_engine(settings)
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claim = (
        update(_JOBS)
        .where(_JOBS.c.id.in_(candidates.scalar_subquery()), *_UNPUBLISHED, _claim_free(now))
        .values(publish_claimed_until=until)
        .returning(_JOBS.c.id, _JOBS.c.kind, _JOBS.c.queue, _JOBS.c.traceparent)
    )
    rows = states.retrying_db(lambda: _execute(settings, claim), "relay claim")
    published = publish_jobs(
        [Outgoing(row.id, row.kind, row.queue, settings, until, row.traceparent) for row in rows],
        settings,
    )
    RELAY_REPUBLISHED.inc(published)
    return published


def get_job(session: Session, job_id: uuid.UUID | str) -> Job:
    job = session.get(Job, _as_uuid(job_id))
    if job is None:
        raise NotFound("job not found", code="JOB_NOT_FOUND")
    return job


def cancel_job(
    session: Session, job_id: uuid.UUID | str, *, settings: Settings | None = None
) -> Job:
    """Cancel waiting work at once; ask running work to stop (it checks between steps)."""
    job = get_job(session, job_id)
    if job.status in TERMINAL:
        raise Conflict(f"job already {job.status.value.lower()}", code="JOB_ALREADY_FINISHED")
    if job.status == JobStatus.RUNNING:
        changed = states.change(
            session, job, message="cancel requested", settings=settings, cancel_requested=True
        )
    else:
        changed = states.change(
            session,
            job,
            message="cancelled",
            settings=settings,
            status=JobStatus.CANCELLED,
            finished_at=utcnow(),
        )
    if not changed:  # a worker moved it on meanwhile: answer from what it is now
        session.refresh(job)
        return cancel_job(session, job_id, settings=settings)
    task_id = job.celery_task_id
    if task_id:
        after_commit(session, lambda: publisher(settings).control.revoke(task_id))
    return job


def retry_job(
    session: Session, job_id: uuid.UUID | str, *, settings: Settings | None = None
) -> Job:
    """Run a failed or cancelled job again as the same job, with one more attempt allowed."""
    settings = settings or get_settings()
    job = get_job(session, job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            f"only failed or cancelled jobs can be retried (this one is {job.status.value})",
            code="JOB_NOT_RETRYABLE",
        )
    claim = utcnow() + timedelta(seconds=settings.relay_after_seconds)
    changed = states.change(
        session,
        job,
        message="retry requested",
        settings=settings,
        status=JobStatus.QUEUED,
        max_attempts=max(job.max_attempts, job.attempts + 1),
        progress=0.0,
        progress_message=None,
        error_code=None,
        error_message=None,
        error_traceback=None,
        cancel_requested=False,
        published_at=None,
        started_at=None,
        finished_at=None,
        publish_claimed_until=claim,
    )
    if not changed:
        raise Conflict("the job changed meanwhile; try again", code="JOB_NOT_RETRYABLE")
    _publish_after_commit(
        session, Outgoing(job.id, job.kind, job.queue, settings, claim, job.traceparent)
    )
    return job


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("job not found", code="JOB_NOT_FOUND") from None
