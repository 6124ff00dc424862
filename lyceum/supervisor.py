"""A small process manager for `lms up`: start children, restart the ones that die.

A child that exits unexpectedly is restarted after a backoff (1 s, 2 s, 4 s … up to 30 s)
with one line (`say`); only a crash loop (`max_crashes` within `window_seconds`) or a
configuration error (exit code 2, already explained by the child) stops the whole stack.
SIGINT/SIGTERM stop every child: SIGTERM first, SIGKILL to its process group after
`stop_timeout`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

CONFIG_ERROR_EXIT = 2  # `lms` exits with 2 on a configuration error: restarting cannot help
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    argv: list[str]
    popen: subprocess.Popen | None = None
    crashes: deque = field(default_factory=deque)  # monotonic times of recent crashes
    restart_at: float | None = None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if `lms up` itself is killed (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


def health_answers(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of `url`, or None if nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


class Supervisor:
    def __init__(
        self,
        children: list[tuple[str, list[str]]],
        *,
        health_url: str | None = None,
        health_child: str = "api",
        on_ready: Callable[[], None] = lambda: None,
        max_crashes: int = 5,
        window_seconds: float = 60.0,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        stop_timeout: float = 10.0,
        tick: float = 0.2,
        say: Callable[[str], None] | None = None,
        pass_fds: tuple[int, ...] = (),
        on_exit: Callable[[int], None] = lambda pid: None,
    ) -> None:
        """`say` reports each start, exit and restart (default: `lms: …` on stderr);
        `pass_fds` stay open in every child (a listening socket they share); `on_exit(pid)`
        runs once for each child process that ended."""
        self.children = [Child(name, argv) for name, argv in children]
        self.pass_fds = pass_fds
        self.on_exit = on_exit
        self.health_url = health_url
        self.health_child = health_child
        self.on_ready = on_ready
        self.max_crashes = max_crashes
        self.window_seconds = window_seconds
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.stop_timeout = stop_timeout
        self.tick = tick
        self.say = say or (lambda line: print(f"lms: {line}", file=sys.stderr, flush=True))
        self.stopping = threading.Event()
        self.ready = health_url is None

    def request_stop(self, *_signal_args) -> None:
        self.stopping.set()

    def _start(self, child: Child, *, again: bool = False) -> None:
        child.popen = subprocess.Popen(
            child.argv,
            start_new_session=True,  # its own group: a stop reaches its helpers, not us
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (the supervisor runs no threads)
            pass_fds=self.pass_fds,
        )
        child.restart_at = None
        self.say(f"{child.name} {'restarted' if again else 'started'} (pid {child.popen.pid})")

    def run(self) -> int:
        """Run until stopped or a child cannot be kept up; the exit code for `lms up`."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            previous = {
                sig: signal.signal(sig, self.request_stop)
                for sig in (signal.SIGINT, signal.SIGTERM)
            }
        try:
            for child in self.children:
                self._start(child)
            exit_code = 0
            while not self.stopping.is_set():
                failure = self._step()
                if failure is not None:
                    exit_code = failure
                    break
                self.stopping.wait(self.tick)
            self._stop_all()
            return exit_code
        finally:
            if in_main_thread:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def _step(self) -> int | None:
        """One look at every child; an exit code when the stack must stop."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._start(child, again=True)
                continue
            returncode = child.popen.poll()
            if returncode is None:
                continue
            self._reap_group(child)
            self.on_exit(child.popen.pid)
            if returncode == CONFIG_ERROR_EXIT:
                self.say(f"{child.name} stopped on a configuration error; stopping")
                return CONFIG_ERROR_EXIT
            child.crashes.append(now)
            while child.crashes and now - child.crashes[0] > self.window_seconds:
                child.crashes.popleft()
            if len(child.crashes) >= self.max_crashes:
                self.say(
                    f"{child.name} exited {len(child.crashes)} times in "
                    f"{self.window_seconds:g} s (last: {describe_exit(returncode)}); stopping"
                )
                return 1
            delay = min(
                self.backoff_seconds * 2 ** (len(child.crashes) - 1), self.max_backoff_seconds
            )
            self.say(
                f"{child.name} exited ({describe_exit(returncode)}), restarting in {delay:g} s"
            )
            child.restart_at = now + delay
        if not self.ready:
            self._check_health()
        return None

    def _check_health(self) -> None:
        api = next((c for c in self.children if c.name == self.health_child), None)
        if api is not None and (api.restart_at is not None or api.popen.poll() is not None):
            return
        # A slow answer still counts (the check reads the database and the broker).
        status = health_answers(self.health_url, timeout=5.0)
        if status is not None:
            self.ready = True
            if status != 200:
                self.say(f"health check answered {status}; see {self.health_url}")
            self.on_ready()

    def _reap_group(self, child: Child) -> None:
        """A killed worker can leave pool processes behind in its group: end them too."""
        try:
            os.killpg(child.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.popen and c.restart_at is None]
        for child in running:
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            try:
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {self.stop_timeout:g} s; killing it")
            self._reap_group(child)
            child.popen.wait()
            self.on_exit(child.popen.pid)
