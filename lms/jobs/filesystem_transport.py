"""Lyceum's embedded broker: kombu's filesystem transport made safe for many processes.

kombu's stock transport creates a message file under its final `*.msg` name and writes
into it afterwards, so a consumer in another process can claim the file while it is still
empty or half written: `JSONDecodeError`, a dead worker, a lost message. Its exchange
tables are truncated before they are locked, so a publisher can read an empty table.

Here:
- a message is written under a hidden temporary name in the same folder and renamed into
  place, so a `*.msg` file is always complete;
- a consumer claims a message by renaming it into its claim folder: `rename` is atomic, so
  exactly one consumer gets each message and the others move on;
- exchange tables (bindings, used by fanout: events, Celery inspect and control) are
  created, read and rewritten under a lock and never seen empty;
- one directory scan serves every queue a channel consumes (round-robin between queues,
  oldest message first within one), and an idle consumer sleeps on inotify rather than a
  fixed interval, so a new message is picked up within about a millisecond.

Registered as the kombu transport `lyceumfs`; `lms.jobs.broker` maps `filesystem://` URLs
to it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps, loads

from lms.jobs.dir_watch import DirectoryWatch

SCHEME = "lyceumfs"
CLAIM_FOLDER = ".claimed"
# How long one directory scan may be reused before looking again: bounds how long a new
# message on a quiet queue waits behind a backlog already listed on a busy one.
RESCAN_SECONDS = 0.02


def _message_name(queue: str) -> str:
    # Wall-clock nanoseconds sort FIFO across processes and survive a reboot (kombu's
    # monotonic milliseconds restart at zero, putting new messages before old ones).
    return f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"


def _queue_of(filename: str) -> str | None:
    if filename.startswith(".") or not filename.endswith(".msg"):
        return None
    return filename.partition(".")[2][: -len(".msg")]


class Channel(filesystem.Channel):
    _waiting: dict[str, deque[str]] | None = None
    _listed_at = 0.0
    _turn = 0

    # writing ------------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        """Write `payload` to a temporary name, then rename it into the queue folder."""
        folder = self.data_folder_out
        name = _message_name(queue)
        temporary = os.path.join(folder, f".{name}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                data = dumps(payload).encode()
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
            finally:
                os.close(descriptor)
            os.rename(temporary, os.path.join(folder, name))
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise ChannelError(f"Cannot add message {name!r} to {folder!r}") from exc

    # reading ------------------------------------------------------------------------------

    @property
    def _claim_folder(self) -> str:
        # Inside the queue folder: the same file system, so the claiming rename is atomic.
        folder = os.path.join(self.data_folder_in, CLAIM_FOLDER)
        os.makedirs(folder, exist_ok=True)
        return folder

    def _claim(self, filename: str):
        """The message in `filename`, or None when another consumer claimed it first."""
        claimed = os.path.join(self._claim_folder, filename)
        try:
            os.rename(os.path.join(self.data_folder_in, filename), claimed)
        except FileNotFoundError:
            return None
        try:
            with open(claimed, "rb") as file:
                payload = file.read()
            if self.store_processed:
                os.replace(claimed, os.path.join(self.processed_folder, filename))
            else:
                os.unlink(claimed)
        except OSError as exc:
            raise ChannelError(f"Cannot read message {claimed!r}") from exc
        return loads(payload)

    def _scan(self, force: bool) -> tuple[dict[str, deque[str]], bool]:
        """Waiting messages by queue, oldest first (one listing serves a short while), and
        whether the folder was listed just now."""
        now = time.monotonic()
        if not (force or self._waiting is None or now - self._listed_at > RESCAN_SECONDS):
            return self._waiting, False
        waiting: dict[str, deque[str]] = {}
        for filename in sorted(os.listdir(self.data_folder_in)):
            queue = _queue_of(filename)
            if queue is not None:
                waiting.setdefault(queue, deque()).append(filename)
        self._waiting, self._listed_at = waiting, now
        return waiting, True

    def _take(self, queues: list[str]):
        """Claim the oldest message of the next queue in turn that has one."""
        if not queues:
            raise Empty()
        for force in (False, True):
            waiting, listed = self._scan(force)
            for step in range(len(queues)):
                queue = queues[(self._turn + step) % len(queues)]
                names = waiting.get(queue)
                while names:
                    message = self._claim(names.popleft())
                    if message is not None:
                        self._turn = (self._turn + step + 1) % len(queues)
                        return message, queue
            if listed:
                break
        raise Empty()

    def _get(self, queue):
        return self._take([queue])[0]

    def _poll(self, cycle, callback, timeout=None):
        message, queue = self._take(list(dict.fromkeys(self._active_queues)))
        return callback(message, queue)

    # exchange tables (bindings) -----------------------------------------------------------

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as table:
                filesystem.lock(table, filesystem.LOCK_SH)
                try:
                    data = table.read()
                finally:
                    filesystem.unlock(table)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        # Created but not yet written by a binder holding the lock: no bindings yet.
        return [filesystem.exchange_queue_t(*row) for row in loads(data)] if data else []

    def _update_table(self, exchange, change) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        try:
            # Never truncate before holding the lock: readers would see an empty table.
            with open(os.open(file, os.O_RDWR | os.O_CREAT, 0o644), "rb+", buffering=0) as table:
                filesystem.lock(table, filesystem.LOCK_EX)
                try:
                    data = table.read()
                    rows = (
                        [filesystem.exchange_queue_t(*row) for row in loads(data)] if data else []
                    )
                    updated = change(list(rows))
                    if updated != rows:
                        table.seek(0)
                        table.write(dumps(updated).encode())
                        table.truncate()
                finally:
                    filesystem.unlock(table)
        except OSError as exc:
            raise ChannelError(f"Cannot update {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda rows: rows if row in rows else [row, *rows])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # Skip the stock `_delete` (it rewrites the table itself); keep the virtual one.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        if self._exchange_file(exchange).exists():
            self._update_table(exchange, lambda rows: [r for r in rows if r != row])

    # acknowledgements ---------------------------------------------------------------------

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple)
        self.connection.wake()  # a prefetch slot is free: take the next message now

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue)
        self.connection.wake()

    def _size(self, queue):
        return sum(1 for name in os.listdir(self.data_folder_in) if _queue_of(name) == queue)

    def _purge(self, queue):
        count = 0
        for name in os.listdir(self.data_folder_in):
            if _queue_of(name) != queue:
                continue
            try:
                os.unlink(os.path.join(self.data_folder_in, name))
                count += 1
            except FileNotFoundError:
                pass  # a consumer claimed it first
        return count


class Transport(filesystem.Transport):
    Channel = Channel

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        self._watch: DirectoryWatch | None = None

    def _wait(self, seconds: float) -> None:
        if self._watch is None:
            folder = self.client.transport_options.get("data_folder_in", "data_in")
            self._watch = DirectoryWatch(folder)
        self._watch.wait(seconds)

    def wake(self) -> None:
        """End a consumer's wait (called from the thread that acknowledges)."""
        if self._watch is not None:
            self._watch.wake()

    def drain_events(self, connection, timeout=None):
        """Deliver one message; between empty scans wait for a file to land (inotify)."""
        started = time.monotonic()
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                waited = time.monotonic() - started
                if timeout is not None and waited >= timeout:
                    raise TimeoutError() from None
                pause = self.polling_interval or 0
                if timeout is not None:
                    pause = min(pause, timeout - waited)
                self._wait(max(pause, 0.0))

    def close_connection(self, connection):
        super().close_connection(connection)
        if self._watch is not None:
            self._watch.close()
            self._watch = None


def register() -> None:
    """Make `lyceumfs://` resolve to this transport in kombu (and so in Celery)."""
    TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")


register()
