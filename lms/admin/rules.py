"""The health rules, shared by `queueHealth`, the dashboard and the scheduled alerts:
one place decides what is wrong with a queue and how bad it is."""

from __future__ import annotations

from dataclasses import dataclass

from lms.admin.settings import AdminSettings
from lms.admin.stats import QueueStats, WindowStats
from lms.jobs.models import AlertSeverity

HEALTHY, WARNING, ERROR = "HEALTHY", "WARNING", "ERROR"


@dataclass(frozen=True)
class Condition:
    """Something wrong (or notable) about a queue or the system."""

    code: str  # BACKLOG, OLDEST_WAITING, FAILURE_RATE, NO_CONSUMER, WORKER_GONE, ...
    severity: AlertSeverity
    message: str
    queue: str | None = None
    target: str = ""
    value: float | None = None
    threshold: float | None = None
    alert: bool = True  # PAUSED/DRAINING are reasons for health, not alerts: an operator chose them


def queue_conditions(
    stats: QueueStats, failures: WindowStats | None, tuning: AdminSettings
) -> list[Condition]:
    """What is wrong with one queue right now."""
    found: list[Condition] = []
    name = stats.queue_name
    waiting = stats.depth if stats.depth is not None else stats.waiting
    if stats.broker_error:
        found.append(
            Condition(
                "BROKER_UNREACHABLE", AlertSeverity.CRITICAL, stats.broker_error, name, alert=False
            )
        )
    if waiting >= tuning.backlog_warning:
        severity = (
            AlertSeverity.CRITICAL if waiting >= tuning.backlog_critical else AlertSeverity.WARNING
        )
        threshold = (
            tuning.backlog_critical
            if severity == AlertSeverity.CRITICAL
            else tuning.backlog_warning
        )
        found.append(
            Condition(
                "BACKLOG",
                severity,
                f"{waiting} jobs waiting on {name} (threshold {threshold})",
                name,
                value=waiting,
                threshold=threshold,
            )
        )
    age = stats.oldest_waiting_seconds
    if age is not None and age >= tuning.oldest_waiting_seconds:
        found.append(
            Condition(
                "OLDEST_WAITING",
                AlertSeverity.WARNING,
                f"the oldest waiting job on {name} has waited {age:.0f} s "
                f"(threshold {tuning.oldest_waiting_seconds:.0f} s)",
                name,
                value=age,
                threshold=tuning.oldest_waiting_seconds,
            )
        )
    rate = failures.failure_rate if failures else None
    finished = (failures.succeeded + failures.failed) if failures else 0
    if (
        rate is not None
        and finished >= tuning.failure_rate_min_jobs
        and rate >= tuning.failure_rate_warning
    ):
        critical = rate >= tuning.failure_rate_critical
        threshold = tuning.failure_rate_critical if critical else tuning.failure_rate_warning
        found.append(
            Condition(
                "FAILURE_RATE",
                AlertSeverity.CRITICAL if critical else AlertSeverity.WARNING,
                f"{rate:.0%} of {finished} jobs on {name} failed in the last "
                f"{failures.window_seconds // 60} min (threshold {threshold:.0%})",
                name,
                value=rate,
                threshold=threshold,
            )
        )
    if stats.paused:
        found.append(
            Condition(
                "PAUSED",
                AlertSeverity.WARNING if waiting else AlertSeverity.INFO,
                f"{name} is paused; {waiting} jobs waiting",
                name,
                alert=False,
            )
        )
    elif stats.consumers == 0 and waiting > 0:
        found.append(
            Condition(
                "NO_CONSUMER",
                AlertSeverity.CRITICAL,
                f"no worker consumes {name}; {waiting} jobs waiting",
                name,
                value=waiting,
                threshold=0,
            )
        )
    if stats.draining:
        found.append(
            Condition(
                "DRAINING",
                AlertSeverity.INFO,
                f"{name} is draining: new jobs are refused, {waiting} left",
                name,
                alert=False,
            )
        )
    return found


def status_of(conditions: list[Condition]) -> str:
    """HEALTHY / WARNING / ERROR: the worst condition decides."""
    worst = max((c.severity.rank for c in conditions), default=0)
    return {0: HEALTHY, 1: WARNING, 2: ERROR}[worst]


def worse(*statuses: str) -> str:
    order = (HEALTHY, WARNING, ERROR)
    return max(statuses, key=order.index, default=HEALTHY)
