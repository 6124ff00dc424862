"""A private RabbitMQ node for tests that must stop or restart a broker.

The machine's shared broker (127.0.0.1:5672) is never stopped by a test: a fault test starts
its own node with its own name, ports, data folder, configuration and (empty) plugin list,
breaks that one, and removes it afterwards.

    with RabbitNode(tmp_path) as node:      # started and answering
        url = node.url                      # amqp://guest:guest@127.0.0.1:<port>//
        node.stop(); node.start()           # or node.restart()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from tests.support import free_port

_START_SECONDS = 90.0
# The scripts behind Debian's wrappers: the wrappers switch to the rabbitmq user, which
# cannot write this node's folder; run as the test's own user instead.
_BIN = "/usr/lib/rabbitmq/bin"


class RabbitNode:
    def __init__(self, folder: Path | str | None = None) -> None:
        self.name = f"lyceum-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.folder = Path(folder or f"/tmp/{self.name.split('@')[0]}")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "log.console = false\n"
        )
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq-env.conf").write_text("")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RABBITMQ_NODENAME": self.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
                "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.folder / "log"),
                "RABBITMQ_PID_FILE": str(self.folder / "node.pid"),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                # Its own Erlang cookie: the node and its rabbitmqctl calls share this HOME.
                "HOME": str(self.folder),
            }
        )
        return env

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [f"{_BIN}/rabbitmqctl", "-n", self.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self) -> RabbitNode:
        """Start the node and return once it accepts AMQP connections."""
        subprocess.run(
            [f"{_BIN}/rabbitmq-server", "-detached"],
            env=self._env(),
            check=True,
            capture_output=True,
        )
        # `wait` returns once the application is running (it reads the pid file).
        waited = self._ctl(
            "wait",
            "--timeout",
            str(int(_START_SECONDS)),
            str(self.folder / "node.pid"),
            timeout=_START_SECONDS + 10,
        )
        if waited.returncode != 0:
            raise RuntimeError(f"RabbitMQ node {self.name} did not start: {waited.stderr.strip()}")
        deadline = time.monotonic() + _START_SECONDS
        while not self.accepts_connections():
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.name} opened no port {self.port}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        """Stop the node (its data stays, so durable queues and messages survive a restart)."""
        self._ctl("stop", str(self.folder / "node.pid"), timeout=_START_SECONDS)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        if self.accepts_connections():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RabbitNode:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()
