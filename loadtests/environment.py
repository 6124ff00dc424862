"""Where a benchmark runs: its own PostgreSQL database and RabbitMQ virtual host.

Benchmarks share this machine's services with test runs and other benchmarks; a vhost of
their own keeps another run's worker from taking their messages, and a database of their
own keeps counts honest. Set the environment before anything from `lms` reads it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = os.environ.get(
    "LMS_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBIT_URL = os.environ.get("LMS_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def rabbitmqctl(*args: str) -> bool:
    try:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def isolated_broker_url(vhost: str) -> tuple[str, bool]:
    """Our own vhost on the same RabbitMQ when rabbitmqctl can make one; else the given URL
    (and False: nothing of ours to delete afterwards)."""
    scheme, _, rest = RABBIT_URL.partition("://")
    netloc, _, chosen = rest.partition("/")
    if chosen not in ("", "/"):  # the caller chose a vhost: use it as is
        return RABBIT_URL, False
    user = netloc.rsplit("@", 1)[0].split(":", 1)[0] if "@" in netloc else "guest"
    if rabbitmqctl("add_vhost", vhost) and rabbitmqctl(
        "set_permissions", "-p", vhost, user, ".*", ".*", ".*"
    ):
        return f"{scheme}://{netloc}/{vhost}", True
    rabbitmqctl("delete_vhost", vhost)
    return RABBIT_URL, False


def use_environment(var_dir: Path, broker_url: str, database: str, **extra: str) -> None:
    """LMS_* for this process and the servers it starts (`extra`: more LMS_* values)."""
    os.environ.update(
        {
            "LMS_ENV": "test",
            "LMS_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}",
            "LMS_BROKER_URL": broker_url,
            "LMS_VAR_DIR": str(var_dir),
            "LMS_EMAIL_URL": f"outbox:{var_dir / 'outbox'}",
            "LMS_SECRET_KEY": "bench-secret-" + uuid.uuid4().hex,
            **extra,
        }
    )
    for name in ("LMS_REDIS_URL", "LMS_STORAGE_URL", "LMS_DEBUG", "LMS_MEDIA_WORK_DIR"):
        if name not in extra:
            os.environ.pop(name, None)


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


def release(database: str, vhost: str, own_vhost: bool, *folders: Path) -> None:
    """Undo the environment: close our connections, drop the database, remove the folders,
    delete the vhost if we made it."""
    if "lms.jobs.stamps" in sys.modules:  # publish stamps still waiting go first
        from lms.jobs import stamps

        stamps.flush()
    if "lms.db" in sys.modules:
        from lms.db import autocommit_engine, sync_sessionmaker

        for engine in (sync_sessionmaker().kw["bind"], autocommit_engine()):
            engine.dispose()
    admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    if own_vhost:
        rabbitmqctl("delete_vhost", vhost)


@contextmanager
def scratch_environment(name: str) -> Iterator[Path]:
    """A fresh, migrated database and a vhost named `name`, and a var folder (yielded), for
    a profiling script in this process; all of it released on the way out."""
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-profile-"))
    broker_url, own_vhost = isolated_broker_url(name)
    use_environment(var_dir, broker_url, name)
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{name}"')
        from lms.config import get_settings
        from lms.migrate import upgrade

        upgrade(get_settings())
        yield var_dir
    finally:
        release(name, name, own_vhost, var_dir)


def job_profile_arguments(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """The options of the in-process job profiles (`profile_enqueue`, `profile_worker_job`);
    `--tracing URL` sets `LMS_OTEL_ENDPOINT` before anything from `lms` reads it."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--tracing", metavar="URL", help="export spans over OTLP/HTTP to this collector"
    )
    args = parser.parse_args(argv)
    if args.tracing:
        os.environ["LMS_OTEL_ENDPOINT"] = args.tracing
    return args


@contextmanager
def job_profile_environment(name: str, args: argparse.Namespace, component: str):
    """`scratch_environment` and this process's settings (yielded), tracing installed as
    `component` when `--tracing` was given: before the first engine, so SQL spans too."""
    with scratch_environment(name):
        from lms.config import get_settings

        settings = get_settings()
        if args.tracing:
            from lms.observability.tracing import init_tracing

            init_tracing(settings, component)
        yield settings


def wait_until_healthy(
    url: str, timeout: float = 60, *, alive: Callable[[], bool] = lambda: True
) -> bool:
    """Whether the server at `url` answered `/healthz` within `timeout` (giving up early
    once `alive()` says its process has exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return True
        except OSError:
            time.sleep(0.3)  # a port that is not open yet announces nothing to await
    return False
