"""The API's relay of stored webhook deliveries: one daemon thread per process.

`wake()` after a delivery is committed; the thread then records the handling jobs of every
stored delivery still without one (`service.handling_jobs.relay_stored`). Deliveries that
arrive while a batch is being recorded make the next batch, so under load one transaction
and one publish burst serve many deliveries, and none of it is on the request path.

**Handling yields to a burst.** Stripe sends in bursts, and what it needs from us is a fast
2xx (it retries a slow answer); the handling may follow. Each handling job costs the worker
and PostgreSQL far more CPU than an accept costs the API, so handling that starts during a
burst takes the cores the answers need (on two cores it doubled the accept p95). A pass
therefore starts once deliveries have paused for `QUIET` seconds, or `MAX_DELAY` seconds
after the thread was woken, whichever comes first (a lone delivery waits `QUIET`; a steady
stream is handled every `MAX_DELAY` seconds, in one batch), and never sooner than
`MIN_INTERVAL` after the last pass began (a pass costs a transaction and a broker connection
whatever its size, and this thread shares the API's GIL). A pass that fails (the database
refusing connections, say) is tried again after a pause doubling from `FIRST_RETRY` to
`LAST_RETRY` seconds, without waiting for another delivery. If this process dies first,
`lms beat`'s relay round queues what it left.
"""

from __future__ import annotations

import logging
import threading
import time

from lms.config import Settings

log = logging.getLogger(__name__)
FIRST_RETRY, LAST_RETRY = 0.5, 10.0
MIN_INTERVAL = 0.2  # seconds between the starts of two passes
QUIET = 0.25  # a pause in arrivals this long ends a burst
MAX_DELAY = 5.0  # the longest a woken relay holds back for a burst that goes on
_wanted = threading.Event()
_started = threading.Lock()
_thread: threading.Thread | None = None
_last_arrival = float("-inf")  # monotonic time of the last wake


def wake(settings: Settings) -> None:
    global _thread, _last_arrival
    _last_arrival = time.monotonic()
    _wanted.set()
    if _thread is None:
        with _started:
            if _thread is None:
                _thread = threading.Thread(
                    target=_run, args=(settings,), name="payments-relay", daemon=True
                )
                _thread.start()


def pass_at(woken: float, last_arrival: float, last_pass: float) -> float:
    """When the next pass may start (monotonic seconds): after a pause in arrivals or at the
    longest delay, and not within `MIN_INTERVAL` of the last pass's start."""
    return max(last_pass + MIN_INTERVAL, min(last_arrival + QUIET, woken + MAX_DELAY))


def _run(settings: Settings) -> None:
    from lms.payments.service.handling_jobs import relay_stored

    pause = None  # after a failure: how long until the next try
    last = float("-inf")  # when the last pass started (monotonic)
    while True:
        _wanted.wait(pause)
        woken = time.monotonic()
        # `_last_arrival` moves while a burst goes on: wait until it stops (or too long).
        while (wait := pass_at(woken, _last_arrival, last) - time.monotonic()) > 0:
            time.sleep(wait)
        _wanted.clear()
        last = time.monotonic()
        try:
            relay_stored(settings)
            pause = None
        except Exception:  # noqa: BLE001 - the deliveries stay stored: try again soon
            pause = min(LAST_RETRY, pause * 2) if pause else FIRST_RETRY
            log.warning(
                "relay of stored webhook deliveries failed; again in %gs", pause, exc_info=True
            )
