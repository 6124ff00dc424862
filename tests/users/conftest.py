"""Users tests: an API with test-friendly limits, an email worker and the outbox reader.

Verification and reset tokens are read from the `.eml` files the real worker delivers,
as a user would click them in their inbox.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from lms.db import session_scope
from lms.jobs.models import Job
from tests.support import JobWatcher, start_api, start_worker

# argon2id at a lower memory cost: the same algorithm and code path, a tenth of the CPU.
FAST_HASH = {"LMS_PASSWORD_HASH_MEMORY_KIB": "8192", "LMS_PASSWORD_HASH_TIME_COST": "2"}
# Every test here comes from 127.0.0.1: per-IP limits are tested in their own module.
RELAXED_IP_LIMITS = {
    "LMS_RATE_LOGIN_IP": "10000/60",
    "LMS_RATE_REGISTER_IP": "10000/60",
    "LMS_RATE_RESET_IP": "10000/60",
    "LMS_RATE_REFRESH_IP": "10000/60",
}
OUTBOX = Path(os.environ["LMS_EMAIL_URL"].removeprefix("outbox:"))
PASSWORD = "violet kettle drums 42"

REGISTER = """mutation($input: RegisterInput!) {
  register(input: $input) {
    accessToken refreshToken accessTokenExpiresAt refreshTokenExpiresAt
    user { id email name role emailVerified }
  }
}"""
LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken user { id email role } }
}"""
REFRESH = """mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) { accessToken refreshToken user { id } }
}"""
ME = "{ me { id email name role emailVerified bio timezone language profileVisibility } }"


@pytest.fixture(scope="module")
def api():
    from tests.support import GraphQLClient

    process, base_url = start_api(env={**FAST_HASH, **RELAXED_IP_LIMITS})
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


@pytest.fixture(scope="module")
def watcher():
    with JobWatcher() as watcher:
        yield watcher


@pytest.fixture(scope="module")
def worker_queues() -> str:
    return "email"


@pytest.fixture(scope="module")
def worker(worker_queues):
    process = start_worker(worker_queues)
    yield process
    process.stop()


class Mailbox:
    """The emails the worker delivered to the outbox, found by account and template."""

    def __init__(self, watcher: JobWatcher, worker) -> None:
        self.watcher = watcher
        self.worker = worker

    def jobs(self, user_id: str, template: str) -> list[Job]:
        with session_scope() as session:
            jobs = session.scalars(
                select(Job)
                .where(
                    Job.kind == "email.send",
                    Job.subject_type == "user",
                    Job.subject_id == str(user_id),
                )
                .order_by(Job.created_at)
            ).all()
        return [job for job in jobs if job.payload.get("template") == template]

    def latest(self, user_id: str, template: str) -> email.message.EmailMessage:
        jobs = self.jobs(user_id, template)
        assert jobs, f"no {template} email was requested for {user_id}"
        job = jobs[-1]
        try:
            assert self.watcher.wait(job.id, timeout=30)["status"] == "SUCCEEDED"
        except AssertionError:
            raise AssertionError(
                f"email job {job.id} not delivered; worker said:\n{self.worker.output[-3000:]}"
            )
        digest = hashlib.sha256(f"<{job.id}@lyceum.local>".encode()).hexdigest()[:20]
        [path] = OUTBOX.glob(f"*-{digest}.eml")
        return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)

    def token(self, user_id: str, template: str) -> str:
        message = self.latest(user_id, template)
        text = message.get_body(preferencelist=("plain",)).get_content()
        match = re.search(r"\?token=([A-Za-z0-9_-]+)", text)
        assert match, text
        return match.group(1)


@pytest.fixture(scope="module")
def mailbox(watcher, worker) -> Mailbox:
    return Mailbox(watcher, worker)


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.test"


def register(
    api,
    *,
    email: str | None = None,
    role: str = "STUDENT",
    name: str = "Test User",
    password: str = PASSWORD,
    token: str | None = None,
) -> dict:
    variables = {
        "input": {"email": email or new_email(), "password": password, "name": name, "role": role}
    }
    return api.data(REGISTER, variables, token)["register"]


def login(api, email: str, password: str = PASSWORD) -> dict:
    return api.data(LOGIN, {"input": {"email": email, "password": password}})["login"]


def codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
