"""The scheduler's own loop for the job machinery: reaper and relay, each on its interval."""

from __future__ import annotations

import logging
import threading
import time

from lms.config import Settings
from lms.jobs.reaper import reap_expired
from lms.jobs.service import relay_unpublished
from lms.jobs.settings import job_settings

log = logging.getLogger("lms.jobs.housekeeping")


def start_housekeeping(settings: Settings) -> threading.Thread:
    thread = threading.Thread(target=_loop, args=(settings,), name="job-housekeeping", daemon=True)
    thread.start()
    return thread


def _loop(settings: Settings) -> None:
    tuning = job_settings()
    rounds = (
        (reap_expired, tuning.reaper_interval_seconds),
        (relay_unpublished, tuning.relay_interval_seconds),
    )
    due = [time.monotonic()] * len(rounds)
    log.info(
        "job housekeeping: reaper every %gs, relay every %gs",
        tuning.reaper_interval_seconds,
        tuning.relay_interval_seconds,
    )
    stop = threading.Event()
    while True:
        for index, (run, every) in enumerate(rounds):
            if time.monotonic() < due[index]:
                continue
            due[index] = time.monotonic() + every
            try:
                run(settings)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.warning("%s failed", run.__name__, exc_info=True)
        stop.wait(max(0.05, min(due) - time.monotonic()))
