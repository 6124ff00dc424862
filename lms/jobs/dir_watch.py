"""Wake a poller when a file is renamed into a folder (Linux inotify) or when told to.

The embedded broker polls its queue folder. Sleeping a fixed interval between scans costs
either latency (a long interval) or idle CPU (a short one); waiting on inotify for
`IN_MOVED_TO` returns as soon as a message lands, and the interval only bounds the wait.
`wake()` (from another thread: an ack that frees a prefetch slot) ends a wait at once.
Where inotify is missing (macOS, Windows, some containers) only the interval and `wake()`
end a wait.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import struct
import time

log = logging.getLogger(__name__)

IN_MOVED_TO = 0x00000080
IN_IGNORED = 0x00008000  # sent when a watched folder is removed
WATCHED = IN_MOVED_TO
EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - present on Linux only
        return libc
    except (OSError, AttributeError, TypeError):
        return None


class DirectoryWatch:
    """`wait(timeout)` returns when a file was moved into a watched folder, on `wake()`, or
    after `timeout`."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._wake_read, self._wake_write = os.pipe()
        for end in (self._wake_read, self._wake_write):
            os.set_blocking(end, False)
        self._libc = _libc()
        self._folders: dict[int, str] = {}  # watch descriptor -> folder
        self.inotify: int | None = None
        if self._libc is not None:
            fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd >= 0:
                self.inotify = fd
            else:
                log.debug("inotify unavailable (errno %s); polling", ctypes.get_errno())

    @property
    def _usable(self) -> bool:
        return self._wake_read is not None and self._pid == os.getpid()  # not a forked child

    def watch(self, folders: list[str]) -> None:
        """Also wake on files moved into `folders` (created if missing)."""
        if self.inotify is None or not self._usable:
            return
        for folder in set(folders) - set(self._folders.values()):
            os.makedirs(folder, exist_ok=True)
            descriptor = self._libc.inotify_add_watch(self.inotify, os.fsencode(folder), WATCHED)
            if descriptor >= 0:
                self._folders[descriptor] = folder
            else:
                log.debug("inotify watch on %s failed (errno %s)", folder, ctypes.get_errno())

    def wait(self, timeout: float) -> None:
        if not self._usable:
            time.sleep(timeout)
            return
        watched = [self._wake_read] if self.inotify is None else [self._wake_read, self.inotify]
        poller = select.poll()  # not select(): it refuses descriptors above 1024
        for descriptor in watched:
            poller.register(descriptor, select.POLLIN)
        ready = {descriptor for descriptor, _ in poller.poll(timeout * 1000)}
        if self._wake_read in ready:
            _drain(self._wake_read)
        if self.inotify is not None and self.inotify in ready:
            self._read_events()

    def _read_events(self) -> None:
        try:
            while data := os.read(self.inotify, 65536):
                offset = 0
                while offset < len(data):
                    descriptor, mask, _cookie, length = EVENT.unpack_from(data, offset)
                    offset += EVENT.size + length
                    if mask & IN_IGNORED:  # the folder was removed: watch it again if needed
                        self._folders.pop(descriptor, None)
        except BlockingIOError:
            pass

    def wake(self) -> None:
        if self._usable:
            try:
                os.write(self._wake_write, b"!")
            except BlockingIOError:
                pass  # the pipe is full: a wake-up is already pending

    def close(self) -> None:
        if self._usable:
            for fd in (self._wake_read, self._wake_write, self.inotify):
                if fd is not None:
                    os.close(fd)
        self._wake_read = self._wake_write = self.inotify = None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass
