"""A worker SIGKILLed while its email is in the SMTP server's hands sends it only once.

The SMTP sink records every message (unlike the outbox, which keys files by Message-ID)
and holds one reply of the first exchange: the 250 to DATA (the message is delivered, the
worker still waits for the answer) or the 221 to QUIT (accepted and answered, the job's
success not yet recorded). The worker is killed there. After redelivery every job
succeeds and the sink has exactly one message per job.
"""

from __future__ import annotations

from collections import Counter

import pytest

from lms.db import session_scope
from lms.mail.jobs import request_email
from tests.mail.servers import HoldingHandler
from tests.support import JobWatcher, start_worker

JOBS = 3


@pytest.mark.parametrize("held", ["DATA", "QUIT"])
def test_killed_mid_email_sends_each_message_once(smtp_server, held):
    controller, sink = smtp_server(HoldingHandler(hold=held))
    env = {"LMS_EMAIL_URL": f"smtp://127.0.0.1:{controller.port}?timeout=60"}
    worker = start_worker("email", env=env)
    with JobWatcher() as watcher:
        with session_scope() as session:
            jobs = [
                request_email(session, template="test", to=f"s{i}@example.com", context={"note": i})
                for i in range(JOBS)
            ]
        job_ids = [str(job.id) for job in jobs]
        try:
            assert sink.received.wait(60), worker.output[-3000:]
            worker.kill()  # the sink has the first message; the held reply was never read
        finally:
            sink.release.set()
        again = start_worker("email", env=env)
        try:
            outcomes = [watcher.wait(job_id, timeout=90) for job_id in job_ids]
        finally:
            again.stop()
    assert [outcome["status"] for outcome in outcomes] == ["SUCCEEDED"] * JOBS
    sent = Counter(sink.message_ids())
    assert sent == {f"<{job_id}@lyceum.local>": 1 for job_id in job_ids}
