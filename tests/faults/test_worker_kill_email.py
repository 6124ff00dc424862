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
from lms.jobs.models import JobStatus
from tests.faults.support import SHORT_LEASES, statuses, unfinished, wait_until
from tests.support import purge_queues, start_beat, start_worker

JOBS = 3


@pytest.mark.parametrize("held", ["DATA", "QUIT"])
def test_killed_mid_email_sends_each_message_once(smtp_server, held):
    # This test counts every message its worker sends: e-mails the other case left go.
    purge_queues("email")
    controller, sink = smtp_server(HoldingHandler(hold=held))
    # The killed attempt holds its lease until it expires; the scheduler's reaper then runs
    # the job again (a redelivery while the lease is live is dropped, never run twice).
    env = {**SHORT_LEASES, "LMS_EMAIL_URL": f"smtp://127.0.0.1:{controller.port}?timeout=60"}
    beat = start_beat(env)
    worker = start_worker("email", env=env)
    with session_scope() as session:
        jobs = [
            request_email(session, template="test", to=f"s{i}@example.com", context={"note": i})
            for i in range(JOBS)
        ]
    job_ids = [job.id for job in jobs]
    try:
        assert sink.received.wait(60), worker.output[-3000:]
        worker.kill()  # the sink has the first message; the held reply was never read
    finally:
        sink.release.set()
    again = start_worker("email", env=env)
    try:
        # Counted from the database: a killed worker's last event may never be sent.
        wait_until(lambda: unfinished(job_ids) == 0, 90, "every email job finished")
    finally:
        again.stop()
        beat.stop()
    assert statuses(job_ids) == {JobStatus.SUCCEEDED: JOBS}
    ours = {f"<{job_id}@lyceum.local>" for job_id in job_ids}
    sent = Counter(mid for mid in sink.message_ids() if mid in ours)
    assert sent == dict.fromkeys(ours, 1)
