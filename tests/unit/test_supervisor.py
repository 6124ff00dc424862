"""The process manager behind `lms up`, on real child processes."""

from __future__ import annotations

import sys

from lyceum.supervisor import Supervisor

PYTHON = sys.executable
SLEEPER = [PYTHON, "-c", "import time; time.sleep(600)"]


def crasher(code: int) -> list[str]:
    return [PYTHON, "-c", f"import sys; sys.exit({code})"]


def lines(out: list[str]) -> list[str]:
    return [f"lms: {line}" for line in out]


def test_a_crash_loop_stops_the_stack_with_one_line_reason():
    out: list[str] = []
    supervisor = Supervisor(
        [("api", SLEEPER), ("worker", crasher(1))],
        max_crashes=3,
        backoff_seconds=0.01,
        tick=0.01,
        say=out.append,
    )
    assert supervisor.run() == 1
    said = lines(out)
    assert said.count("lms: worker exited (code 1), restarting in 0.01 s") == 1
    assert "lms: worker exited (code 1), restarting in 0.02 s" in said
    assert said[-1] == "lms: worker exited 3 times in 60 s (last: code 1); stopping"
    assert supervisor.children[0].popen.poll() is not None  # the healthy api was stopped too


def test_a_configuration_error_is_not_retried():
    out: list[str] = []
    supervisor = Supervisor([("api", crasher(2)), ("beat", SLEEPER)], tick=0.01, say=out.append)
    assert supervisor.run() == 2
    assert lines(out)[-1] == "lms: api stopped on a configuration error; stopping"
    assert not any("restarting" in line for line in lines(out))


def test_a_stop_request_ends_every_child_with_sigterm():
    out: list[str] = []
    supervisor = Supervisor([("api", SLEEPER), ("worker", SLEEPER)], tick=0.01, say=out.append)
    supervisor.request_stop()  # as Ctrl-C right after start: children start, then stop
    assert supervisor.run() == 0
    assert [child.popen.returncode for child in supervisor.children] == [-15, -15]
    assert [line.split(" (pid")[0] for line in lines(out)] == [
        "lms: api started",
        "lms: worker started",
    ]
