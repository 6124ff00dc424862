"""Test configuration: real PostgreSQL, RabbitMQ and Redis on 127.0.0.1.

The environment is set here, before any `lms` code reads it, so in-process code and the
worker/API processes the tests start all share one database and broker. The database is
created fresh for each run and migrated with the real migrations.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

# SMTP and SendGrid capture servers, shared by the mail library and worker tests.
pytest_plugins = ["tests.mail_servers"]

PG_ADMIN_URL = os.environ.get(
    "LMS_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_DB = f"lyceum_test_{os.getpid()}"
VHOST = TEST_DB  # one RabbitMQ virtual host per run: concurrent runs never share queues
RABBIT_URL = os.environ.get("LMS_TEST_BROKER_URL", f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")
VAR_DIR = Path(tempfile.mkdtemp(prefix="lyceum-test-var-"))

os.environ.update(
    {
        "LMS_ENV": "test",
        "LMS_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{TEST_DB}",
        "LMS_BROKER_URL": RABBIT_URL,
        "LMS_VAR_DIR": str(VAR_DIR),
        "LMS_EMAIL_URL": f"outbox:{VAR_DIR / 'outbox'}",
        "LMS_SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
    }
)
for name in ("LMS_REDIS_URL", "LMS_STORAGE_URL", "LMS_DEBUG"):
    os.environ.pop(name, None)


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


@pytest.fixture(scope="session", autouse=True)
def database():
    """A fresh PostgreSQL database per run, at the head migration."""
    _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{TEST_DB}"')
    from lms.config import get_settings
    from lms.migrate import upgrade

    upgrade(get_settings())
    yield os.environ["LMS_DATABASE_URL"]
    from lms.db import sync_sessionmaker
    from lms.jobs import stamps

    stamps.flush()  # publish stamps still waiting, while their database exists
    sync_sessionmaker().kw["bind"].dispose()
    _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session", autouse=True)
def clean_broker():
    """A fresh virtual host for this run (unless LMS_TEST_BROKER_URL names a broker)."""
    own_vhost = "LMS_TEST_BROKER_URL" not in os.environ
    if own_vhost:
        _rabbitmqctl("add_vhost", VHOST)
        _rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    from tests.support import purge_queues

    purge_queues()
    yield
    if own_vhost:
        _rabbitmqctl("delete_vhost", VHOST)


@pytest.fixture(scope="module", autouse=True)
def empty_queues(clean_broker):
    """Each module starts with empty queues: a job an earlier module queued and never ran
    must not be run, and counted, by this module's workers. (A publish still owed to a
    broker an earlier fault test stopped is not waited out.)"""
    from tests.support import purge_queues

    purge_queues(wait=2)


@pytest.fixture(scope="module")
def api():
    """An API process (`lms serve`) for this test module, and a GraphQL client for it."""
    from tests.support import GraphQLClient, start_api

    process, base_url = start_api()
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


# Tests that break things on purpose (killed workers, a stopped broker, cut database
# connections) or soak the embedded stack need the machine to themselves: short leases and
# recovery deadlines assume no second test competes for the two cores. (Building the wheel
# only costs CPU: it runs in the parallel phase.)
SERIAL = (
    "faults/",
    "broker/",
    "e2e/test_embedded_soak.py",
    "e2e/test_event_bus.py",
    "e2e/test_lms_up.py",
)


def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).parent
    for item in items:
        if Path(item.fspath).relative_to(tests).as_posix().startswith(SERIAL):
            item.add_marker(pytest.mark.serial)
