"""A full rollup on PostgreSQL, on two connections at once.

A full run rewrites every rollup table from the events stored before its cutoff: bulk
`INSERT … SELECT … GROUP BY` statements, each on one core (PostgreSQL does not run an
INSERT's SELECT in parallel). The work falls into two independent halves of about the same
size, run side by side:

- a second connection: student days → per-student course totals → badges;
- the caller's: the other daily tables (course, lesson, revenue, quiz items) → drop-off.

Each half is its own transaction and none commits before both have finished, so a failure
in either leaves every table as it was. Between the two commits (the second half's, with
the watermark's advance, comes last) a crash would leave new student tables beside a stale
watermark, which an incremental run would add to twice; a marker row committed before the
work starts, and deleted with the watermark's advance, makes the next run a full one
instead. Runs still take turns on the watermark's row lock, held by the caller throughout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from lms.analytics.models import Watermark
from lms.models import utcnow

MARKER = "daily:rebuilding"  # present: the last full run did not finish, run a full one


def pending(session: Session) -> bool:
    """Whether a full run started and did not finish (read under the watermark's lock)."""
    return session.scalar(select(Watermark.name).where(Watermark.name == MARKER)) is not None


def settle(session: Session) -> None:
    """The full run finished: forget the marker, in the transaction that moves the watermark."""
    session.execute(delete(Watermark).where(Watermark.name == MARKER))


def rebuild(
    session: Session,
    *,
    settings: Callable[[Session], None],
    students_half: Callable[[Session], dict[str, float]],
    other_half: Callable[[Session], dict[str, float]],
) -> dict[str, float]:
    """Run both halves, the students' in a session of its own, and commit that one once
    both have succeeded; the caller's transaction (the other half) commits after it.
    `settings` applies the run's session settings to the second transaction. Returns the
    seconds of each step, and how long the caller waited for the students' half."""
    engine = session.get_bind().engine
    with engine.begin() as connection:  # the marker, durable before any table changes
        now = utcnow()
        connection.execute(
            postgresql.insert(Watermark)
            .values(name=MARKER, stored_at=now, runs=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
    # On a failure in either half, the pool waits for the other to finish its statement and
    # the second session's close rolls it back; the caller rolls back its own.
    with Session(engine) as second, ThreadPoolExecutor(1, "rollup") as pool:
        settings(second)
        students = pool.submit(students_half, second)
        seconds = other_half(session)
        waited = time.perf_counter()
        seconds.update(students.result())
        seconds["waited"] = round(time.perf_counter() - waited, 3)
        second.commit()
    return seconds
