"""Parsing ffmpeg's ``-progress`` output and throttling what reaches the job.

ffmpeg prints blocks of ``key=value`` lines, each closed by ``progress=continue`` or
``progress=end``. Pitfall: ``out_time_ms`` is in *microseconds* (a historical bug kept for
compatibility), so only ``out_time_us`` is read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class ProgressBlock:
    """One complete ``-progress`` block."""

    out_time: float  # seconds of output written so far
    speed: float | None  # encoding speed relative to real time (``2.5x`` -> 2.5)
    ended: bool  # ``progress=end``: ffmpeg finished writing


class ProgressParser:
    """Feed lines one by one; returns a ``ProgressBlock`` whenever a block completes."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._last_time = 0.0

    def feed(self, line: str) -> ProgressBlock | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        key, value = key.strip(), value.strip()
        if key != "progress":
            self._fields[key] = value
            return None
        out_us = _to_float(self._fields.get("out_time_us"))
        # Before the first packet ffmpeg reports N/A or even negative times; keep the last good
        # value so progress never goes backwards.
        if out_us is not None and out_us >= 0:
            self._last_time = max(self._last_time, out_us / 1_000_000)
        speed = _to_float(self._fields.get("speed", "").rstrip("x"))
        self._fields.clear()
        return ProgressBlock(out_time=self._last_time, speed=speed, ended=value == "end")


def _to_float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:  # "N/A"
        return None


class ProgressThrottle:
    """Forwards at most one update per ``interval`` seconds, never a smaller fraction.

    Jobs store every update and publish it on the event bus, so ffmpeg's twice-a-second
    reports would be noise. ``force`` bypasses the clock (first and final updates).
    """

    def __init__(self, callback: ProgressCallback | None, *, interval: float = 1.0) -> None:
        self._callback = callback
        self._interval = interval
        self._last_at: float | None = None
        self.last_fraction = -1.0

    def __call__(self, fraction: float, message: str, *, force: bool = False) -> None:
        if self._callback is None:
            return
        fraction = min(1.0, max(0.0, fraction))
        if fraction <= self.last_fraction:
            return
        now = time.monotonic()
        if not force and self._last_at is not None and now - self._last_at < self._interval:
            return
        self._last_at = now
        self.last_fraction = fraction
        self._callback(fraction, message)
