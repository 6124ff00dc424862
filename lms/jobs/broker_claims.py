"""Messages a consumer holds until it acknowledges them, kept on disk under `.claimed/`.

A consumer claims a message by renaming it into a folder of its own process,
`.claimed/<pid>-<random>/<message>.<queue>.msg`, and deletes it on ack. The process holds
an exclusive `flock` on `<folder>/lock` while it lives; the kernel drops that lock when the
process dies, however it dies. A consumer connecting later takes the lock of every folder
whose owner is gone and puts its messages back in their queues, oldest first as before: a
worker killed with SIGKILL loses nothing it had taken (at-least-once delivery, which the
job state machine turns into a harmless redelivery).

The same folder names the auto-delete queues the process declared (`<queue>.queue`): AMQP
deletes such a queue when its consumer goes, which a process killed with SIGKILL never
gets to do here. Recovery deletes them for it (unless a live process declared the same
name), so a killed monitor's or API's queue stops collecting every fanout message.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Callable

LOCK = "lock"
QUEUE_MARK = ".queue"
_owners: dict[tuple[int, str], str] = {}  # (pid, claim root) -> this process's folder
_held: list[int] = []  # lock descriptors, open for the life of the process
_lock = threading.Lock()


def owner_folder(root: str) -> str:
    """This process's claim folder under `root`, created (and locked) on first use."""
    key = (os.getpid(), root)  # a forked child gets its own
    with _lock:
        folder = _owners.get(key)
        if folder is None or not os.path.isdir(folder):
            folder = _owners[key] = _create_owner(root)
        return folder


def _create_owner(root: str) -> str:
    # Built under a hidden name and renamed into place once locked, so a recovering
    # process never sees an owner folder without its lock held.
    name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    building = os.path.join(root, f".{name}")
    os.makedirs(building)
    descriptor = os.open(os.path.join(building, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    _held.append(descriptor)
    folder = os.path.join(root, name)
    os.rename(building, folder)
    atexit.register(_remove_if_empty, folder, os.getpid())
    return folder


def _remove_if_empty(folder: str, pid: int) -> None:
    """At a clean exit, leave no empty folder behind (held messages stay for recovery)."""
    if os.getpid() != pid:
        return
    try:
        if os.listdir(folder) == [LOCK]:
            os.unlink(os.path.join(folder, LOCK))
            os.rmdir(folder)
    except OSError:
        pass


def note_auto_delete(root: str, queue: str) -> None:
    """Record that this process declared the auto-delete queue `queue`."""
    with open(os.path.join(owner_folder(root), f"{queue}{QUEUE_MARK}"), "ab"):
        pass


def forget_auto_delete(root: str, queue: str) -> None:
    folder = _owners.get((os.getpid(), root))
    if folder is not None:
        try:
            os.unlink(os.path.join(folder, f"{queue}{QUEUE_MARK}"))
        except FileNotFoundError:
            pass


def claimed_name(filename: str, queue: str) -> str:
    """`<ns>_<hex>.msg` of queue `q` is held as `<ns>_<hex>.q.msg`."""
    return f"{filename.removesuffix('.msg')}.{queue}.msg"


def put_back(path: str, data_folder: str) -> None:
    """Return a held message to its queue under its original name (and place in line)."""
    stem, _, queue = os.path.basename(path).removesuffix(".msg").partition(".")
    folder = os.path.join(data_folder, queue)
    os.makedirs(folder, exist_ok=True)
    try:
        os.rename(path, os.path.join(folder, f"{stem}.msg"))
    except FileNotFoundError:
        pass  # acknowledged (or put back) meanwhile


def recover_orphans(root: str, data_folder: str, drop_queue: Callable[[str], None]) -> int:
    """Put back every message held by a process that has died, and `drop_queue` each
    auto-delete queue it declared that no live process declared too; how many messages
    went back."""
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return 0
    recovered, live_queues, orphan_queues = 0, set(), set()
    for entry in entries:
        folder = os.path.join(root, entry)
        if entry.startswith(".") or not os.path.isdir(folder):
            continue
        try:
            descriptor = os.open(os.path.join(folder, LOCK), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # being recovered by someone else
        try:
            try:
                names = sorted(os.listdir(folder))
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its owner is alive
                live_queues.update(n.removesuffix(QUEUE_MARK) for n in names if _marks(n))
                continue
            try:
                names = sorted(os.listdir(folder))  # as of now that we hold the lock
            except FileNotFoundError:
                continue  # recovered by another process between our open and our lock
            for name in names:
                if name.endswith(".msg"):
                    put_back(os.path.join(folder, name), data_folder)
                    recovered += 1
            orphan_queues.update(n.removesuffix(QUEUE_MARK) for n in names if _marks(n))
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(descriptor)
    for queue in sorted(orphan_queues - live_queues):
        drop_queue(queue)
    return recovered


def _marks(name: str) -> bool:
    return name.endswith(QUEUE_MARK)
