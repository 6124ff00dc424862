"""Publish stamps: `published_at` and the Celery task id of jobs that reached the broker.

The stamp only spares the relay a republish: a lost or late one costs, once the publish
claim lapses, a duplicate message that the guarded start drops. So after-commit publishing
does not wait for it: the stamps go to the process's writer thread (`lms.jobs.writer`)
`stamp_delay` seconds later, and every stamp pending then is written in one statement (an
UPDATE over arrays on PostgreSQL, an executemany elsewhere), instead of one round trip per
committed transaction on the producer's path.
Those late stamps touch only jobs still QUEUED: a job that started meanwhile has its task
id from its start and no longer concerns the relay, so most jobs of a busy system are
never stamped at all (a stamp rewrites the row and every index of `jobs`). The relay stamps
at once and unguarded (`write`): it runs off any request's path and its claim is what
keeps a second relay off.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
from collections.abc import Iterable

from sqlalchemy import bindparam, text, update

from lms.config import Settings
from lms.jobs import publishing, writer
from lms.jobs.engine import job_engine
from lms.jobs.models import Job, JobStatus
from lms.jobs.states import retrying_db
from lms.models import utcnow

log = logging.getLogger(__name__)
_JOBS = Job.__table__
# Long enough for a job of a queue that keeps up to have started (then it needs no stamp),
# and well within the publish claim (LMS_RELAY_AFTER_SECONDS; an after-commit publish
# goes out in its first half), so the relay does not take these jobs for unpublished.
STAMP_DELAY_MAX = 5.0


def stamp_delay(settings: Settings) -> float:
    return min(STAMP_DELAY_MAX, settings.relay_after_seconds / 3)


# One statement for any number of jobs. Core, not the ORM: its bulk-update bookkeeping
# costs more than the round trip itself.
_STAMP = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(published_at=bindparam("published_at"), celery_task_id=bindparam("task_id"))
)
_STAMP_WAITING = _STAMP.where(_JOBS.c.status == JobStatus.QUEUED)
# The same on PostgreSQL as one statement over arrays: most of these rows have moved on, and
# a statement per row would cost more than finding that out.
_STAMP_WAITING_ARRAYS = text(
    """
UPDATE jobs SET published_at = stamped.published_at, celery_task_id = stamped.task_id
FROM unnest(CAST(:job_ids AS uuid[]), CAST(:published_ats AS timestamptz[]),
            CAST(:task_ids AS varchar[])) AS stamped(job_id, published_at, task_id)
WHERE jobs.id = stamped.job_id AND jobs.status = 'QUEUED'
"""
)

_lock = threading.Lock()
_owner_pid: int | None = None
_pending: dict[str, list[dict]] = {}  # database URL -> rows waiting for the writer
_settings: dict[str, Settings] = {}


def write(published: Iterable[tuple[uuid.UUID, str]], settings: Settings) -> None:
    """Stamp `(job id, task id)` pairs now."""
    _write(_rows(published), settings)


def write_later(published: Iterable[tuple[uuid.UUID, str]], settings: Settings) -> None:
    """Stamp those still QUEUED `stamp_delay` from now, from the writer thread, together
    with whatever else is pending by then."""
    rows = _rows(published)
    if not rows:
        return
    global _owner_pid
    with _lock:
        if _owner_pid != os.getpid():  # a forked child: the parent writes what it inherited
            _pending.clear()
            _settings.clear()
            _owner_pid = os.getpid()
        scheduled = bool(_pending)
        _pending.setdefault(settings.database_url, []).extend(rows)
        _settings[settings.database_url] = settings
    if not scheduled:
        timer = threading.Timer(stamp_delay(settings), writer.submit, (_write_pending,))
        timer.daemon = True
        timer.start()


def flush() -> None:
    """Write the pending stamps now, with those of publishes still under way: a process
    about to exit. One try: its database may be gone already (a missing stamp costs a
    republish that the guarded start drops)."""
    publishing.flush()
    if _owner_pid != os.getpid():
        return
    try:
        _write_pending(retry=False)
    except Exception:  # noqa: BLE001 - see the docstring
        log.info("publish stamps not written at exit", exc_info=True)


def _write_pending(*, retry: bool = True) -> None:
    with _lock:
        pending, settings = dict(_pending), dict(_settings)
        _pending.clear()
        _settings.clear()
    for database_url, rows in pending.items():
        _write(rows, settings[database_url], waiting=True, retry=retry)


def _arrays(rows: list[dict]) -> dict:
    return {
        "job_ids": [row["job_id"] for row in rows],
        "published_ats": [row["published_at"] for row in rows],
        "task_ids": [row["task_id"] for row in rows],
    }


def _rows(published: Iterable[tuple[uuid.UUID, str]]) -> list[dict]:
    now = utcnow()
    return [{"job_id": job_id, "published_at": now, "task_id": task} for job_id, task in published]


def _write(
    rows: list[dict], settings: Settings, *, waiting: bool = False, retry: bool = True
) -> None:
    """`waiting`: only the jobs still QUEUED (the late stamps)."""
    if not rows:
        return

    def run() -> None:
        # Autocommitted without waiting for the WAL flush: a stamp lost in a database
        # crash costs one republish by the relay, which the guarded start drops.
        with job_engine(settings, durable=False).begin() as connection:
            if not waiting:
                connection.execute(_STAMP, rows)
            elif connection.dialect.name == "postgresql":
                connection.execute(_STAMP_WAITING_ARRAYS, _arrays(rows))
            else:
                connection.execute(_STAMP_WAITING, rows)

    if retry:
        retrying_db(run, f"stamp of {len(rows)} published job(s)")
    else:
        run()


atexit.register(flush)
