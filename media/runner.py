"""Running ffmpeg and ffprobe as subprocesses.

ffmpeg-python only builds argument lists here; we run them ourselves so that ``-progress``
can be read while ffmpeg works, stderr is drained (a full, unread pipe blocks ffmpeg
forever), cancellation can kill the process, and failures become ``MediaError``.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO

from .errors import CANCELLED, MediaError
from .progress import CancelCheck, ProgressCallback, ProgressParser, ProgressThrottle

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

# Always first: never read stdin (a worker has none, and ffmpeg would otherwise treat
# stray bytes as keyboard commands), quiet banner, errors only on stderr.
FFMPEG_BASE_ARGS: tuple[str, ...] = ("-nostdin", "-hide_banner", "-loglevel", "error")

STDERR_TAIL_LINES = 20
# How often a silent ffmpeg is checked for cancellation (progress lines arrive ~2/s anyway).
_POLL_SECONDS = 0.25


def stderr_tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_tool(
    args: Sequence[str], *, timeout: float, error_code: str, what: str
) -> subprocess.CompletedProcess[str]:
    """Run a short tool invocation to completion; any failure raises ``MediaError``."""
    try:
        proc = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # run() has already killed the child
        raise MediaError(error_code, f"{what} timed out after {timeout:g} s") from exc
    except FileNotFoundError as exc:  # a deployment problem, not the user's file
        raise MediaError(error_code, f"{what}: {args[0]} is not installed") from exc
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr)
        reason = tail or f"exit {proc.returncode}"
        raise MediaError(error_code, f"{what} failed: {reason}", detail=tail)
    return proc


def run_ffmpeg_with_progress(
    args: Sequence[str],
    *,
    total_seconds: float,
    error_code: str,
    what: str,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    timeout: float | None = None,
) -> None:
    """Run ffmpeg (``args`` without the binary) reporting ``-progress`` and honouring cancel.

    Fractions passed to ``on_progress`` stay below 1.0; the caller reports 1.0 once its own
    post-processing is done. ``MediaError(CANCELLED)`` when ``should_cancel()`` turns true,
    ``error_code`` on a non-zero exit or ``timeout``.
    """
    cmd = [FFMPEG, *FFMPEG_BASE_ARGS, "-nostats", "-progress", "pipe:1", *args]
    throttle = ProgressThrottle(on_progress)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError as exc:
        raise MediaError(error_code, f"{what}: {FFMPEG} is not installed") from exc

    stderr_lines: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(
            target=_pump, args=(proc.stdout, lines.put, lambda: lines.put(None)), daemon=True
        ),
        threading.Thread(target=_pump, args=(proc.stderr, stderr_lines.append), daemon=True),
    ]
    for reader in readers:
        reader.start()

    parser = ProgressParser()
    deadline = None if timeout is None else time.monotonic() + timeout

    def check_stop() -> None:
        if should_cancel is not None and should_cancel():
            _kill(proc)
            raise MediaError(CANCELLED, f"{what} was cancelled")
        if deadline is not None and time.monotonic() > deadline:
            _kill(proc)
            raise MediaError(error_code, f"{what} timed out after {timeout:g} s")

    try:
        # should_cancel may be a database read, so it is polled per progress block (about
        # twice a second) or per idle poll, not per line.
        check_stop()
        while True:
            try:
                line = lines.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                check_stop()
                continue
            if line is None:  # stdout closed: ffmpeg is exiting
                break
            block = parser.feed(line)
            if block is None:
                continue
            if not block.ended:
                fraction = block.out_time / total_seconds if total_seconds > 0 else 0.0
                # ffmpeg overshoots the probed duration slightly, and the caller may have
                # work left: 1.0 is reserved for "really done".
                throttle(
                    min(fraction, 0.99),
                    _message(what, block.out_time, total_seconds, block.speed),
                    force=throttle.last_fraction < 0,
                )
            # Right after the callback, so a cancel requested from it is seen at once.
            check_stop()
        while True:
            try:
                proc.wait(timeout=_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                check_stop()
        # A cancel that raced ffmpeg's own exit still wins: the caller asked to stop.
        check_stop()
    finally:
        if proc.poll() is None:
            _kill(proc)
        for reader in readers:
            reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()

    if proc.returncode != 0:
        tail = "\n".join(stderr_lines)
        reason = tail or "no output"
        raise MediaError(
            error_code, f"{what} failed (exit {proc.returncode}): {reason}", detail=tail
        )


def _pump(
    stream: IO[str], sink: Callable[[str], object], on_eof: Callable[[], object] | None = None
) -> None:
    """Read a pipe to its end; a reader per pipe means neither can fill up and block ffmpeg."""
    try:
        for line in stream:
            sink(line.rstrip("\n"))
    except ValueError:  # pipe closed under us during shutdown
        pass
    finally:
        if on_eof is not None:
            on_eof()


def _kill(proc: subprocess.Popen[str]) -> None:
    # SIGKILL, not SIGTERM: on SIGTERM ffmpeg finalises its outputs, which for a cancelled
    # job is wasted work and could leave a playable-looking partial manifest behind.
    proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not reap it
        pass


def _message(what: str, done: float, total: float, speed: float | None) -> str:
    text = f"{what}: {done:.0f}/{total:.0f} s"
    return f"{text} at {speed:g}x" if speed else text
