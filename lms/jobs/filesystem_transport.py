"""Lyceum's embedded broker: kombu's filesystem transport made safe for many processes.

kombu's stock transport creates a message file under its final `*.msg` name and writes
into it afterwards, so a consumer in another process can claim the file while it is still
empty or half written: `JSONDecodeError`, a dead worker, a lost message. Its exchange
tables are truncated before they are locked, so a publisher can read an empty table.

Here:
- each queue has its own folder under the data folder (`queue/<name>/<ns>_<uuid>.msg`),
  so a consumer lists only the queues it consumes and never another queue's backlog;
- a message is written under a hidden temporary name in its queue folder and renamed into
  place, so a `*.msg` file is always complete;
- a consumer claims a message by renaming it into the claim folder: `rename` is atomic, so
  exactly one consumer gets each message and the others move on;
- exchange tables (bindings, used by fanout: events, Celery inspect and control) are
  created, read and rewritten under a lock and never seen empty;
- a consumer serves its queues round-robin (oldest message first within one) and, when
  they are empty, sleeps on inotify for its own queue folders (or until an ack frees a
  prefetch slot) rather than a fixed interval: a new message is picked up at once;
- messages left by the stock transport in the flat folder are adopted on connect.

Registered as the kombu transport `lyceumfs`; `lms.jobs.broker` maps `filesystem://` URLs
to it.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections import deque
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps, loads

from lms.jobs import broker_claims
from lms.jobs.dir_watch import DirectoryWatch

SCHEME = "lyceumfs"
CLAIM_FOLDER = ".claimed"
# How long one listing of a queue may be reused before looking again: bounds how long a
# message on another queue waits behind a backlog already listed.
RESCAN_SECONDS = 0.02


def _message_name() -> str:
    # Wall-clock nanoseconds sort FIFO across processes and survive a reboot (kombu's
    # monotonic milliseconds restart at zero, putting new messages before old ones).
    return f"{time.time_ns():020d}_{uuid.uuid4().hex}.msg"


def _is_message(filename: str) -> bool:
    return filename.endswith(".msg") and not filename.startswith(".")


def _adopt_stock_messages(folder: str) -> None:
    """Move messages that kombu's stock transport left in the one flat folder
    (`<ms>_<uuid>.<queue>.msg`) into their queue's folder, oldest first as before."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        stamp, _, rest = name.partition("_")
        ident, _, queue = rest.removesuffix(".msg").partition(".")
        if not (_is_message(name) and stamp.isdigit() and queue) or "/" in queue:
            continue
        os.makedirs(os.path.join(folder, queue), exist_ok=True)
        try:
            os.rename(
                os.path.join(folder, name),
                os.path.join(folder, queue, f"{int(stamp):020d}_{ident}.msg"),
            )
        except FileNotFoundError:
            pass  # another process adopted it


def update_table(file, change) -> None:
    """Rewrite an exchange table (its bindings) under an exclusive lock."""
    try:
        # Never truncate before holding the lock: readers would see an empty table.
        with open(os.open(file, os.O_RDWR | os.O_CREAT, 0o644), "rb+", buffering=0) as table:
            filesystem.lock(table, filesystem.LOCK_EX)
            try:
                data = table.read()
                rows = [filesystem.exchange_queue_t(*row) for row in loads(data)] if data else []
                updated = change(list(rows))
                if updated != rows:
                    table.seek(0)
                    table.write(dumps(updated).encode())
                    table.truncate()
            finally:
                filesystem.unlock(table)
    except OSError as exc:
        raise ChannelError(f"Cannot update {file}") from exc


def drop_queue(data_folder: str, control_folder: str, queue: str) -> None:
    """Unbind `queue` from every exchange and remove its messages and folder."""
    for name in os.listdir(control_folder) if os.path.isdir(control_folder) else ():
        if name.endswith(".exchange"):
            update_table(
                os.path.join(control_folder, name), lambda rows: [r for r in rows if r[2] != queue]
            )
    shutil.rmtree(os.path.join(data_folder, queue), ignore_errors=True)


class Channel(filesystem.Channel):
    """Each queue is a subfolder of the data folder: a consumer lists, and is woken by,
    only the queues it consumes, never another queue's backlog."""

    _waiting: dict[str, deque[str]]
    _listed_at: dict[str, float]
    _turn = 0

    _get_no_ack = False

    def __init__(self, *args, **kwargs):
        self._waiting, self._listed_at = {}, {}
        self._claimed: dict[str, str] = {}  # delivery tag -> held file, until acknowledged
        self._no_ack_queues: set[str] = set()
        self._auto_delete: set[str] = set()  # declared here with auto_delete
        super().__init__(*args, **kwargs)

    def queue_folder(self, queue: str, *, inbound: bool = True) -> str:
        if not queue or queue.startswith(".") or "/" in queue or "\\" in queue or "\0" in queue:
            raise ChannelError(f"Invalid queue name for the filesystem broker: {queue!r}")
        return os.path.join(self.data_folder_in if inbound else self.data_folder_out, queue)

    # writing ------------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        """Write `payload` under a temporary name, then rename it into the queue's folder."""
        folder = self.queue_folder(queue, inbound=False)
        name = _message_name()
        temporary = os.path.join(folder, f".{name}.tmp")
        data = dumps(payload).encode()
        try:
            for attempt in range(3):
                try:
                    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    break
                except FileNotFoundError:
                    # First message of the queue, or its folder was just removed by a delete.
                    if attempt == 2:
                        raise
                    os.makedirs(folder, exist_ok=True)
            try:
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
    def _claim_root(self) -> str:
        # Inside the data folder: the same file system, so the claiming rename is atomic.
        return os.path.join(self.data_folder_in, CLAIM_FOLDER)

    def _claim(self, folder: str, filename: str, queue: str):
        """The message in `filename`, or None when another consumer claimed it first.

        The file is renamed into this process's claim folder and stays there until the
        message is acknowledged (or at once when its consumer does not acknowledge)."""
        claimed = os.path.join(
            broker_claims.owner_folder(self._claim_root),
            broker_claims.claimed_name(filename, queue),
        )
        try:
            os.rename(os.path.join(folder, filename), claimed)
        except FileNotFoundError:
            return None
        try:
            with open(claimed, "rb") as file:
                message = loads(file.read())
        except OSError as exc:
            raise ChannelError(f"Cannot read message {claimed!r}") from exc
        if self._get_no_ack or queue in self._no_ack_queues:
            self._finish(claimed)
        else:
            self._claimed[message["properties"]["delivery_tag"]] = claimed
        return message

    def _finish(self, claimed: str | None) -> None:
        if claimed is None:
            return
        try:
            if self.store_processed:
                os.replace(claimed, os.path.join(self.processed_folder, os.path.basename(claimed)))
            else:
                os.unlink(claimed)
        except FileNotFoundError:
            pass

    def _list(self, folder: str) -> list[str]:
        try:
            return sorted(name for name in os.listdir(folder) if _is_message(name))
        except FileNotFoundError:
            return []  # nothing was ever published to this queue

    def _pending(self, queue: str, force: bool) -> tuple[deque[str], bool]:
        """The queue's messages, oldest first (one listing serves a short while), and
        whether its folder was listed just now."""
        now = time.monotonic()
        names = self._waiting.get(queue)
        if not force and names and now - self._listed_at[queue] <= RESCAN_SECONDS:
            return names, False
        names = self._waiting[queue] = deque(self._list(self.queue_folder(queue)))
        self._listed_at[queue] = now
        return names, True

    def _take(self, queues: list[str]):
        """Claim the oldest message of the next queue in turn that has one."""
        listed: set[str] = set()
        for force in (False, True):
            for step in range(len(queues)):
                queue = queues[(self._turn + step) % len(queues)]
                if force and queue in listed:
                    continue
                names, fresh = self._pending(queue, force)
                if fresh:
                    listed.add(queue)
                folder = self.queue_folder(queue)
                while names:
                    message = self._claim(folder, names.popleft(), queue)
                    if message is not None:
                        self._turn = (self._turn + step + 1) % len(queues)
                        return message, queue
        raise Empty()

    def _get(self, queue):
        return self._take([queue])[0]

    def _poll(self, cycle, callback, timeout=None):
        message, queue = self._take(list(dict.fromkeys(self._active_queues)))
        return callback(message, queue)

    def consumed_folders(self) -> list[str]:
        return [self.queue_folder(queue) for queue in dict.fromkeys(self._active_queues)]

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
        self.control_folder.mkdir(parents=True, exist_ok=True)
        update_table(self._exchange_file(exchange), change)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda rows: rows if row in rows else [row, *rows])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # Skip the stock `_delete` (it rewrites the table itself); keep the virtual one.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        if self._exchange_file(exchange).exists():
            self._update_table(exchange, lambda rows: [r for r in rows if r != row])
        try:
            os.rmdir(self.queue_folder(queue))  # only when empty; a late publisher recreates it
        except OSError:
            pass

    # consuming and acknowledging ----------------------------------------------------------

    def queue_declare(self, queue=None, passive=False, **kwargs):
        declared = super().queue_declare(queue, passive, **kwargs)
        if kwargs.get("auto_delete") and not passive and declared.queue not in self._auto_delete:
            self._auto_delete.add(declared.queue)
            broker_claims.note_auto_delete(self._claim_root, declared.queue)
        return declared

    def basic_cancel(self, consumer_tag):
        """Delete an auto-delete queue when its consumer goes, as AMQP does.

        Otherwise its binding outlives its process (an events monitor, a reply queue) and
        every later fanout message is written to a folder that nobody reads."""
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue in self._auto_delete and queue not in self._active_queues:
            self.queue_delete(queue)

    def queue_delete(self, queue, if_unused=False, if_empty=False, **kwargs):
        super().queue_delete(queue, if_unused, if_empty, **kwargs)
        if queue in self._auto_delete:
            self._auto_delete.discard(queue)
            broker_claims.forget_auto_delete(self._claim_root, queue)

    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_get(self, queue, no_ack=False, **kwargs):
        self._get_no_ack = no_ack
        try:
            return super().basic_get(queue, no_ack, **kwargs)
        finally:
            self._get_no_ack = False

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple)
        self._finish(self._claimed.pop(delivery_tag, None))
        self._wake()  # a prefetch slot is free: take the next message now

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue)  # a requeue writes the message anew
        self._finish(self._claimed.pop(delivery_tag, None))
        self._wake()

    def _wake(self) -> None:
        transport = self.connection
        if transport is not None:  # None once the channel is closed
            transport.wake()

    def close(self):
        """Put every message still held back in its queue, as it was."""
        held, self._claimed = self._claimed, {}
        folder = self.data_folder_in if held else None
        if self._qos is not None:
            self._qos.restore_at_shutdown = False  # the held files are the exact messages
        super().close()
        for claimed in held.values():
            broker_claims.put_back(claimed, folder)

    def _size(self, queue):
        return len(self._list(self.queue_folder(queue)))

    def _purge(self, queue):
        folder, count = self.queue_folder(queue), 0
        for name in self._list(folder):
            try:
                os.unlink(os.path.join(folder, name))
                count += 1
            except FileNotFoundError:
                pass  # a consumer claimed it first
        self._waiting.pop(queue, None)
        return count


class Transport(filesystem.Transport):
    Channel = Channel

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        self._watch: DirectoryWatch | None = None

    def establish_connection(self):
        options = self.client.transport_options
        folder = options.get("data_folder_in", "data_in")
        control = options.get("control_folder", "control")
        _adopt_stock_messages(folder)
        broker_claims.recover_orphans(
            os.path.join(folder, CLAIM_FOLDER),
            folder,
            lambda queue: drop_queue(folder, control, queue),
        )
        return super().establish_connection()

    def _wait(self, seconds: float) -> None:
        if self._watch is None:
            self._watch = DirectoryWatch()
        # Queues come and go (add_consumer, reply queues): watch what is consumed now.
        self._watch.watch([f for channel in self.channels for f in channel.consumed_folders()])
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
