"""Helpers the tests share: processes (worker, API), a job-event watcher, users."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from lms.config import Settings, get_settings
from lms.db import session_scope
from lms.events.bus import EventListener
from lms.jobs.service import JOB_TOPIC
from lms.security import issue_access_token
from lms.users.models import Role, User

ROOT = Path(__file__).resolve().parent.parent
LMS = [sys.executable, "-m", "lyceum.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose output is collected; `wait_for(text)` awaits a log line."""

    def __init__(
        self, args: list[str], env: dict[str, str | None] | None = None, cwd: Path | None = None
    ):
        """`env` overrides this process's environment; a None value removes the variable."""
        self.lines: list[str] = []
        merged = {**os.environ, **(env or {})}
        # This checkout's code even from another folder: the shared venv may have `lms`
        # installed (editable) from a different checkout.
        merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), merged.get("PYTHONPATH")]))
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            args,
            cwd=cwd or ROOT,
            env={key: value for key, value in merged.items() if value is not None},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so a kill reaches the worker's pool children too
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60, times: int = 1) -> None:
        """Wait until `times` lines contain `text` (or the process ends)."""

        def seen() -> bool:
            return sum(text in line for line in self.lines) >= times

        with self._changed:
            self._changed.wait_for(lambda: seen() or self.popen.poll() is not None, timeout)
        if not seen():
            raise AssertionError(f"{text!r} not seen; output:\n{self.output[-4000:]}")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no acks."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(
    queues: str = "default,email", env: dict[str, str] | None = None, concurrency: int = 1
) -> Process:
    name = f"test-{uuid.uuid4().hex[:6]}@%h"
    worker = Process([*LMS, "worker", "-Q", queues, "-c", str(concurrency), "-n", name], env)
    worker.wait_for(" ready.")
    return worker


def purge_queues(*names: str, wait: float = 30) -> int:
    """Drop the messages waiting on this run's queues (`names`, else all of them): those
    earlier test modules enqueued and never ran, which a test counting what its worker does
    would count too. Publishes this process still owes land first (up to `wait` seconds), so
    none arrives after."""
    from lms.jobs import publishing
    from lms.jobs.broker import publisher

    publishing.flush(wait)
    app = publisher()  # declares the queues
    purged = 0
    with app.connection_for_write() as connection:
        for name in names or list(app.amqp.queues):
            purged += app.amqp.queues[name](connection.default_channel).purge() or 0
    return purged


def start_beat(env: dict[str, str] | None = None) -> Process:
    """`lms beat`: the schedule, plus the reaper and relay it runs itself."""
    beat = Process([*LMS, "beat", "--loglevel", "info"], env)
    beat.wait_for("job housekeeping:")
    return beat


def start_api(
    env: dict[str, str] | None = None, cwd: Path | None = None, processes: int = 1
) -> tuple[Process, str]:
    """`lms serve` on a free port; with `processes` above 1, once every one of them runs."""
    port = free_port()
    args = [*LMS, "serve", "--port", str(port)]
    args += ["--processes", str(processes)] if processes > 1 else []
    api = Process(args, env, cwd)
    api.wait_for("Running on", times=processes)
    return api, f"http://127.0.0.1:{port}"


class JobWatcher:
    """Collects every job event from the bus; `wait` blocks until a job reaches a status."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.events: dict[str, list[dict]] = defaultdict(list)
        self._changed = threading.Condition()
        self.listener = EventListener(self._on_event, settings or get_settings())

    def __enter__(self) -> JobWatcher:
        self.listener.start()
        assert self.listener.ready.wait(15), "event bus listener did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.listener.stop()

    def _on_event(self, topic: str, data: dict) -> None:
        if topic == JOB_TOPIC:
            with self._changed:
                self.events[data["jobId"]].append(data)
                self._changed.notify_all()

    def statuses(self, job_id) -> list[str]:
        return [event["status"] for event in self.events[str(job_id)]]

    def wait(
        self,
        job_id,
        statuses: Iterable[str] = ("SUCCEEDED", "FAILED", "CANCELLED"),
        timeout: float = 60,
    ) -> dict:
        wanted = set(statuses)
        key = str(job_id)

        def reached():
            return next((e for e in self.events[key] if e["status"] in wanted), None)

        with self._changed:
            self._changed.wait_for(lambda: reached() is not None, timeout)
            event = reached()
        if event is None:
            raise AssertionError(f"job {key} never reached {wanted}; saw {self.statuses(key)}")
        return event


def create_user(role: Role = Role.ADMIN, settings: Settings | None = None) -> tuple[User, str]:
    """A user straight in the database (the Users module owns sign-up) and its access token."""
    with session_scope(settings) as session:
        user = User(
            email=f"{uuid.uuid4().hex[:10]}@example.test",
            name=f"{role.value.title()} Tester",
            role=role,
        )
        session.add(user)
        session.flush()
    return user, issue_access_token(user, settings)


class GraphQLClient:
    """Speaks GraphQL over HTTP to a running API, as a front end would."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def post(self, query: str, variables: dict | None = None, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    def execute(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        """The JSON body (`data` and/or `errors`)."""
        return self.post(query, variables, token).json()

    def data(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        """`data` of a call that must succeed."""
        body = self.execute(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def error_codes(
        self, query: str, variables: dict | None = None, token: str | None = None
    ) -> list[str]:
        body = self.execute(query, variables, token)
        return [error["extensions"]["code"] for error in body.get("errors", [])]

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/graphql"

    def close(self) -> None:
        self.http.close()


class Embedded:
    """`lms up` in a clean folder with only what a newcomer has (no LMS_* settings, a free
    port), running this checkout's code: SQLite, the filesystem broker, the in-process bus."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.env: dict[str, str | None] = {
            key: None for key in os.environ if key.startswith("LMS_")
        } | {"LMS_PORT": str(self.port), "PYTHONPATH": str(ROOT)}
        self.process = Process([*LMS, "up"], self.env, cwd=folder)
        self.process.wait_for("Running on")
        self.process.wait_for(" ready.")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        """What the stack's own processes read from the folder (for a JobWatcher)."""
        from lms.config import load_settings

        blank = dict.fromkeys(("database_url", "broker_url", "email_url", "storage_url"), "")
        return load_settings(var_dir=self.folder / "var", **blank)

    def python(self, code: str) -> str:
        """Run `code` in the folder as the stack's processes see it; its last output line."""
        merged = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=merged,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.process.popen.poll() is None:
            self.process.stop()
