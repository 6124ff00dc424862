"""The heartbeat that keeps the leases of a worker process's running jobs alive.

One daemon thread per process renews, every third of the lease, the jobs that have held
theirs that long; short jobs finish before their first renewal and cost nothing here.
Progress ticks renew too. A renewal that finds the attempt no longer current (the reaper
took the job, or it was cancelled) tells the task to stop at its next check.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

from lms.config import Settings
from lms.jobs.settings import job_settings

log = logging.getLogger(__name__)


@dataclass
class _Held:
    attempt: int
    settings: Settings
    renewed: float = field(default_factory=time.monotonic)
    stop: bool = False


_held: dict[uuid.UUID, _Held] = {}
_lock = threading.Lock()
_thread: tuple[int, threading.Thread] | None = None


def lease_seconds() -> float:
    return job_settings().lease_seconds


def hold(job_id: uuid.UUID, attempt: int, settings: Settings) -> None:
    """Keep renewing this attempt's lease until `release`."""
    with _lock:
        _held[job_id] = _Held(attempt, settings)
    _ensure_thread()


def release(job_id: uuid.UUID) -> None:
    with _lock:
        _held.pop(job_id, None)


def renewed(job_id: uuid.UUID, stop: bool) -> None:
    """A progress tick renewed the lease (or found it lost)."""
    with _lock:
        held = _held.get(job_id)
        if held is not None:
            held.renewed, held.stop = time.monotonic(), held.stop or stop


def stopped(job_id: uuid.UUID) -> bool:
    held = _held.get(job_id)
    return held is not None and held.stop


def _ensure_thread() -> None:
    global _thread
    # A forked pool child inherits the registry but not the thread: start its own.
    if _thread is not None and _thread[0] == os.getpid() and _thread[1].is_alive():
        return
    with _lock:
        if _thread is None or _thread[0] != os.getpid() or not _thread[1].is_alive():
            thread = threading.Thread(target=_beat, name="job-lease-heartbeat", daemon=True)
            thread.start()
            _thread = (os.getpid(), thread)


def _beat() -> None:
    from lms.jobs.states import lease_until, transition

    while True:
        every = lease_seconds() / 3
        time.sleep(every)
        now = time.monotonic()
        with _lock:
            due = [(key, held) for key, held in _held.items() if now - held.renewed >= every]
        for job_id, held in due:
            try:
                kept = transition(
                    "renew",
                    job_id,
                    settings=held.settings,
                    attempt=held.attempt,
                    lease_expires_at=lease_until(),
                )
            except Exception:  # noqa: BLE001 - the next beat tries again; the lease has slack
                log.warning("job %s: lease renewal failed", job_id, exc_info=True)
                continue
            renewed(job_id, kept is None or bool(kept.job.cancel_requested))
            if kept is None:
                log.warning("job %s: attempt %d lost its lease; stopping", job_id, held.attempt)
