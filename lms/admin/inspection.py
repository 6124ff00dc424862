"""Live worker state from Celery inspect/control, with a short timeout.

Inspect broadcasts to every worker and waits for replies; a worker that is down or busy
with a blocked main loop simply does not answer. We wait at most `inspect_timeout` for the
first round, then ask the workers that answered (returning as soon as all of them reply),
so an inspection never hangs and "no worker answering" is a state, not an exception.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lms.admin.settings import admin_settings
from lms.config import Settings, get_settings
from lms.jobs.broker import publisher
from lms.models import utcnow

log = logging.getLogger(__name__)
NOT_ANSWERING = "no worker answered within {timeout:g} s"


@dataclass
class WorkerInfo:
    hostname: str
    state: str  # ONLINE (answered now) | GONE (seen before, silent now)
    queues: list[str] = field(default_factory=list)
    active: int = 0
    reserved: int = 0
    scheduled: int = 0
    processed: int = 0
    pool_size: int | None = None
    pid: int | None = None
    uptime_seconds: float | None = None
    registered: list[str] = field(default_factory=list)
    active_jobs: list[dict[str, Any]] = field(default_factory=list)
    last_seen_at: datetime | None = None
    heartbeat_at: datetime | None = None  # the worker's own, from the known-workers table


@dataclass
class Inspection:
    answering: bool
    workers: list[WorkerInfo]
    checked_at: datetime
    error: str | None = None

    def consumers_of(self, queue: str) -> int:
        return sum(
            1 for worker in self.workers if worker.state == "ONLINE" and queue in worker.queues
        )

    def worker(self, hostname: str) -> WorkerInfo | None:
        return next((w for w in self.workers if w.hostname == hostname), None)


_cache: dict[str, tuple[float, Inspection]] = {}
_lock = threading.Lock()


def inspect_workers(settings: Settings | None = None, *, fresh: bool = False) -> Inspection:
    """Every answering worker with its queues, pool and tasks (cached for a moment, so a
    page that asks several questions at once costs one broadcast)."""
    settings = settings or get_settings()
    tuning = admin_settings()
    key = f"{settings.broker_url}|{settings.var_dir}"
    with _lock:  # one broadcast at a time per process; the others reuse its answer
        cached = _cache.get(key)
        if not fresh and cached and time.monotonic() - cached[0] < tuning.inspect_cache_seconds:
            return cached[1]
        result = _inspect(settings, tuning.inspect_timeout)
        if result.answering:  # silence is never cached: a starting worker shows up at once
            _cache[key] = (time.monotonic(), result)
        else:
            _cache.pop(key, None)
        return result


def forget_cache() -> None:
    with _lock:
        _cache.clear()


def _inspect(settings: Settings, timeout: float) -> Inspection:
    now = utcnow()
    try:
        control = publisher(settings).control
        stats = control.inspect(timeout=timeout).stats() or {}
    except Exception as error:  # noqa: BLE001 - the broker is down: say so, don't raise
        log.warning("worker inspection failed", exc_info=True)
        return Inspection(False, [], now, f"inspection failed: {type(error).__name__}: {error}")
    if not stats:
        return Inspection(False, [], now, NOT_ANSWERING.format(timeout=timeout))
    names = sorted(stats)
    # Everyone who answered is known now: the next calls return when all have replied.
    ask = control.inspect(destination=names, timeout=timeout, limit=len(names))
    answers = {}
    for method in ("active", "reserved", "scheduled", "registered", "active_queues"):
        try:
            answers[method] = getattr(ask, method)() or {}
        except Exception:  # noqa: BLE001 - partial answers are still worth showing
            log.warning("inspect %s failed", method, exc_info=True)
            answers[method] = {}
    workers = [_worker(name, stats[name], answers, now) for name in names]
    return Inspection(True, workers, now)


def _worker(name: str, stats: dict, answers: dict[str, dict], now: datetime) -> WorkerInfo:
    active = answers["active"].get(name) or []
    pool = stats.get("pool") or {}
    totals = stats.get("total") or {}
    return WorkerInfo(
        hostname=name,
        state="ONLINE",
        queues=sorted(q["name"] for q in answers["active_queues"].get(name) or []),
        active=len(active),
        reserved=len(answers["reserved"].get(name) or []),
        scheduled=len(answers["scheduled"].get(name) or []),
        processed=sum(totals.values()) if isinstance(totals, dict) else 0,
        pool_size=pool.get("max-concurrency"),
        pid=stats.get("pid"),
        uptime_seconds=stats.get("uptime"),
        registered=sorted(answers["registered"].get(name) or []),
        active_jobs=[
            {
                "task_id": task.get("id"),
                "kind": task.get("name"),
                "job_id": (task.get("args") or [None])[0],
                "started": task.get("time_start"),
            }
            for task in active
        ],
        last_seen_at=now,
    )


def cancel_consumer(queue: str, settings: Settings | None = None) -> list[str]:
    """Ask every worker to stop consuming `queue` (running tasks finish); who did."""
    return _control("cancel_consumer", queue, settings)


def add_consumer(queue: str, destination: list[str], settings: Settings | None = None) -> list[str]:
    """Ask these workers to consume `queue` again; who did."""
    if not destination:
        return []
    return _control("add_consumer", queue, settings, destination=destination)


def _control(
    method: str, queue: str, settings: Settings | None, destination: list[str] | None = None
) -> list[str]:
    settings = settings or get_settings()
    timeout = admin_settings().inspect_timeout
    extra = {"destination": destination, "limit": len(destination)} if destination else {}
    replies = (
        getattr(publisher(settings).control, method)(queue, reply=True, timeout=timeout, **extra)
        or []
    )
    forget_cache()  # consumers changed: the next look must be fresh
    done = []
    for reply in replies:
        for hostname, answer in reply.items():
            if isinstance(answer, dict) and "ok" in answer:
                done.append(hostname)
    return sorted(done)
