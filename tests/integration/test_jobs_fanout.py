"""Batched enqueue on PostgreSQL + RabbitMQ: one INSERT per table, one confirmed burst."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from lms.db import session_scope, sync_sessionmaker
from lms.jobs.fanout import enqueue_many
from lms.jobs.models import Job, JobEvent, JobStatus
from tests.support import JobWatcher, start_worker

N = 1000


class Statements:
    """The SQL statements a block of code sends (`INSERT INTO jobs …` and the like)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.engine = sync_sessionmaker().kw["bind"]

    def _record(self, conn, cursor, statement, *args) -> None:
        self.sent.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def inserts_into(self, table: str) -> int:
        return sum(
            s.lstrip().upper().startswith(f"INSERT INTO {table.upper()} ") for s in self.sent
        )


def test_a_thousand_jobs_are_recorded_in_one_statement_and_all_run():
    with JobWatcher() as watcher, Statements() as statements:
        with session_scope() as session:
            ids = enqueue_many(session, "system.noop", [{"steps": 0}] * N)
        assert statements.inserts_into("jobs") == 1 and statements.inserts_into("job_events") == 1
        with session_scope() as session:  # the burst was confirmed and stamped after commit
            unpublished = session.scalar(
                select(func.count()).where(Job.id.in_(ids), Job.published_at.is_(None))
            )
            queued_events = session.scalar(
                select(func.count()).where(
                    JobEvent.job_id.in_(ids), JobEvent.status == JobStatus.QUEUED
                )
            )
        assert unpublished == 0 and queued_events == N
        worker = start_worker("default", concurrency=2)
        try:
            for job_id in ids:
                assert watcher.wait(job_id)["status"] == "SUCCEEDED"
        finally:
            worker.stop()


def test_a_rolled_back_batch_starts_nothing():
    with pytest.raises(RuntimeError), session_scope() as session:
        ids = enqueue_many(session, "system.noop", [{}] * 10)
        raise RuntimeError("the fan-out's cause failed")
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(Job.id.in_(ids))) == 0
