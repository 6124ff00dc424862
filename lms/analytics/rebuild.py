"""A full rollup on PostgreSQL, on two connections at once.

A full run rewrites every rollup table from the events stored before its cutoff: bulk
`INSERT … SELECT … GROUP BY` statements, each on one core (PostgreSQL does not run an
INSERT's SELECT in parallel). They make independent tasks (each daily table; drop-off;
streak badges; student days → per-student course totals → their badges), which two
sessions take in turn: the caller's and a second connection's.

Each session's work is one transaction and neither commits before every task has finished,
so a failure leaves every table as it was. Between the two commits (the caller's, with the
watermark's advance, comes last) a crash would leave rebuilt tables beside a stale
watermark, which an incremental run would add to twice; a marker row committed before the
work starts, and deleted with the watermark's advance, makes the next run a full one
instead. Runs still take turns on the watermark's row lock, held by the caller throughout.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
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


Task = Callable[[Session], None]


def rebuild(
    session: Session,
    *,
    settings: Callable[[Session], None],
    tasks: Sequence[tuple[str, Task]],
) -> dict[str, float]:
    """Run `tasks` (a name, a function of a session; longest first) on two sessions at once,
    the caller's and a second one, each taking the next task when it has finished one, so
    that both stay busy whatever the data's shape. The second commits once every task has
    succeeded; the caller's transaction commits after it. A failing task stops the other
    session after its current task. Returns each task's seconds, and how long the caller
    waited for the second session's last task."""
    queue = deque(tasks)
    lock = threading.Lock()
    seconds: dict[str, float] = {}

    def drain(own: Session) -> None:
        while True:
            with lock:
                if not queue:
                    return
                name, task = queue.popleft()
            started = time.perf_counter()
            try:
                task(own)
            except BaseException:
                with lock:
                    queue.clear()
                raise
            seconds[name] = round(time.perf_counter() - started, 3)

    engine = session.get_bind().engine
    with engine.begin() as connection:  # the marker, durable before any table changes
        now = utcnow()
        connection.execute(
            postgresql.insert(Watermark)
            .values(name=MARKER, stored_at=now, runs=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
    # On a failure in either session, the pool waits for the other's current task and the
    # second session's close rolls it back; the caller rolls back its own.
    with Session(engine) as second, ThreadPoolExecutor(1, "rollup") as pool:
        settings(second)
        other = pool.submit(drain, second)
        drain(session)
        waited = time.perf_counter()
        other.result()
        seconds["waited"] = round(time.perf_counter() - waited, 3)
        second.commit()
    return seconds
