"""`lms beat`'s Celery beat application, with a shutdown that cannot race its own schedule.

Celery's SIGTERM/SIGINT handler closes the schedule file inside the signal handler and then
raises SystemExit. When that exception is swallowed (the signal lands in a finalizer, where
Python only prints it), the loop ticks on and reads the closed file: a traceback on every
such stop. Here the handler only asks the loop to stop; the loop's own `finally` saves and
closes the schedule once, as it does after any exit.
"""

from __future__ import annotations

from celery import platforms
from celery.apps.beat import Beat


class StoppingBeat(Beat):
    def install_sync_handler(self, service) -> None:
        def _stop(_signum, _frame) -> None:
            service._is_shutdown.set()  # the loop's `finally` saves the schedule
            raise SystemExit()

        platforms.signals.update(SIGTERM=_stop, SIGINT=_stop)
