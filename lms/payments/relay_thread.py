"""The API's relay of stored webhook deliveries: one daemon thread per process.

`wake()` after a delivery is committed; the thread then records the handling jobs of every
stored delivery still without one (`service.handling_jobs.relay_stored`). Deliveries that
arrive while a batch is being recorded make the next batch, so under load one transaction
and one publish burst serve many deliveries, and none of it is on the request path. Passes
start at most every `MIN_INTERVAL` seconds: a pass costs a transaction and a broker
connection whatever its size, and this thread shares the API's GIL, so under a burst each
pass waits to gather a batch instead of running back to back on batches of one or two (a
lone delivery after a quiet spell goes at once). A pass
that fails (the database refusing connections, say) is tried again after a pause doubling
from `FIRST_RETRY` to `LAST_RETRY` seconds, without waiting for another delivery. If this
process dies first, `lms beat`'s relay round queues what it left.
"""

from __future__ import annotations

import logging
import threading
import time

from lms.config import Settings

log = logging.getLogger(__name__)
FIRST_RETRY, LAST_RETRY = 0.5, 10.0
MIN_INTERVAL = 0.2  # seconds between the starts of two passes
_wanted = threading.Event()
_started = threading.Lock()
_thread: threading.Thread | None = None


def wake(settings: Settings) -> None:
    global _thread
    _wanted.set()
    if _thread is None:
        with _started:
            if _thread is None:
                _thread = threading.Thread(
                    target=_run, args=(settings,), name="payments-relay", daemon=True
                )
                _thread.start()


def _run(settings: Settings) -> None:
    from lms.payments.service.handling_jobs import relay_stored

    pause = None  # after a failure: how long until the next try
    last = float("-inf")  # when the last pass started (monotonic)
    while True:
        _wanted.wait(pause)
        time.sleep(max(0.0, last + MIN_INTERVAL - time.monotonic()))  # gather a batch
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
