"""Pause and resume give a queue back only to the workers that consumed it.

Two real workers, `-Q media` and `-Q email`: pausing and resuming `email` must never make
the media worker consume `email` (asked of the workers themselves through inspect), and
email jobs still run afterwards.
"""

from __future__ import annotations

import pytest

from lms.admin import inspection
from lms.db import session_scope
from lms.mail.jobs import request_email
from lms.users.models import Role
from tests.admin.helpers import MANAGE, reset_queue_states
from tests.support import JobWatcher, create_user, start_worker


@pytest.fixture(scope="module")
def workers():
    reset_queue_states()
    media, email = start_worker("media"), start_worker("email")
    yield
    media.stop()
    email.stop()
    reset_queue_states()


def queues_by_worker() -> dict[str, list[str]]:
    return {w.hostname: w.queues for w in inspection.inspect_workers(fresh=True).workers}


def send_email() -> str:
    with session_scope() as session:
        job = request_email(
            session, template="test", to="student@example.com", context={"note": "hello"}
        )
        return str(job.id)


def test_resume_gives_email_back_to_the_email_worker_only(api, workers):
    _, token = create_user(Role.ADMIN)
    before = queues_by_worker()
    [media_worker] = [name for name, queues in before.items() if queues == ["media"]]
    [email_worker] = [name for name, queues in before.items() if queues == ["email"]]

    paused = api.data(MANAGE, {"q": "email", "a": "PAUSE"}, token)["manageQueue"]
    assert paused["affectedWorkers"] == [email_worker]
    during = queues_by_worker()
    assert during[email_worker] == [] and during[media_worker] == ["media"]

    with JobWatcher() as watcher:
        job_id = send_email()  # waits in the paused queue
        resumed = api.data(MANAGE, {"q": "email", "a": "RESUME"}, token)["manageQueue"]
        assert resumed["affectedWorkers"] == [email_worker]
        assert watcher.wait(job_id)["status"] == "SUCCEEDED"
        after = queues_by_worker()
        assert after[media_worker] == ["media"] and after[email_worker] == ["email"]
        # And once more: the remembered set did not grow by the media worker.
        api.data(MANAGE, {"q": "email", "a": "PAUSE"}, token)
        api.data(MANAGE, {"q": "email", "a": "RESUME"}, token)
        assert queues_by_worker()[media_worker] == ["media"]
        assert watcher.wait(send_email())["status"] == "SUCCEEDED"
