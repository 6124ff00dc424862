"""The scheduler's own loops: the job machinery (reaper, relay, and the relay of stored
Stripe deliveries still without a handling job) and operator monitoring (queue stats, alert
rules), each round on its interval. Two threads, so a slow Celery inspect during alert
evaluation never delays the reaper."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from lms.admin.housekeeping import evaluate_alerts, publish_queue_stats
from lms.admin.settings import admin_settings
from lms.config import Settings
from lms.jobs.reaper import reap_expired
from lms.jobs.service import relay_unpublished
from lms.jobs.settings import job_settings
from lms.payments.service.handling_jobs import relay_stored

log = logging.getLogger("lms.jobs.housekeeping")
Round = tuple[Callable[[Settings], object], float]


def start_housekeeping(settings: Settings) -> threading.Thread:
    tuning, monitoring = job_settings(), admin_settings()
    jobs: list[Round] = [
        (reap_expired, tuning.reaper_interval_seconds),
        (relay_unpublished, tuning.relay_interval_seconds),
        # Deliveries an API process stored but died before queueing (its relay thread
        # normally queues them at once): a crash between the two costs one interval.
        (relay_stored, tuning.relay_interval_seconds),
    ]
    operators: list[Round] = [
        (publish_queue_stats, monitoring.stats_interval_seconds),
        (evaluate_alerts, monitoring.alert_interval_seconds),
    ]
    log.info(
        "job housekeeping: reaper every %gs, relays (jobs, Stripe deliveries) every %gs; "
        "monitoring: queue stats every %gs, alerts every %gs",
        tuning.reaper_interval_seconds,
        tuning.relay_interval_seconds,
        monitoring.stats_interval_seconds,
        monitoring.alert_interval_seconds,
    )
    threading.Thread(
        target=_loop, args=(settings, operators), name="monitoring-housekeeping", daemon=True
    ).start()
    thread = threading.Thread(
        target=_loop, args=(settings, jobs), name="job-housekeeping", daemon=True
    )
    thread.start()
    return thread


def _loop(settings: Settings, rounds: list[Round]) -> None:
    due = [time.monotonic()] * len(rounds)
    failing = [False] * len(rounds)
    stop = threading.Event()
    while True:
        for index, (run, every) in enumerate(rounds):
            if time.monotonic() < due[index]:
                continue
            due[index] = time.monotonic() + every
            try:
                run(settings)
            except Exception:  # noqa: BLE001 - the next round tries again
                # The first failure in a row is an unexpected error (ERROR: one Sentry
                # event); its repeats every round until it recovers are WARNING lines.
                level = logging.WARNING if failing[index] else logging.ERROR
                log.log(level, "%s failed", run.__name__, exc_info=True)
                failing[index] = True
            else:
                if failing[index]:
                    log.info("%s works again", run.__name__)
                failing[index] = False
        stop.wait(max(0.05, min(due) - time.monotonic()))
