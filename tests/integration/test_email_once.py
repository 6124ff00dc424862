"""An email job sends its message once, whatever happens between the send and the job's
success: the SMTP point of no return, a re-run after the provider accepted it, refusals."""

from __future__ import annotations

import pytest

from lms.config import get_settings
from lms.db import session_scope
from lms.errors import TransientJobError
from lms.jobs import effects
from lms.jobs.lifecycle import Progress
from lms.jobs.models import Job, JobStatus
from lms.mail import mail_backend
from tasks.base import JobContext
from tasks.email import send_email
from tests.mail.servers import RecordingHandler


def smtp_url(controller) -> str:
    return f"smtp://127.0.0.1:{controller.port}?timeout=10"


def email_job(settings) -> JobContext:
    """A job row (never published: the test runs its task code itself) and its context."""
    payload = {"template": "test", "to": "student@example.com", "context": {"note": "hi"}}
    with session_scope() as session:
        job = Job(kind="email.send", queue="email", status=JobStatus.RUNNING, payload=payload)
        session.add(job)
        session.flush()
        job_id = job.id
    return JobContext(job_id, "email.send", payload, 1, Progress(job_id, settings), settings)


def test_smtp_records_before_the_end_of_data_and_a_failed_record_sends_nothing(
    smtp_server, message
):
    controller, handler = smtp_server()
    backend = mail_backend(smtp_url(controller))
    seen_at_the_point: list[int] = []

    backend.send(
        message, point_of_no_return=lambda: seen_at_the_point.append(len(handler.deliveries))
    )
    assert seen_at_the_point == [0] and len(handler.deliveries) == 1

    def database_away() -> None:
        raise ConnectionError("could not record the send")

    with pytest.raises(TransientJobError):
        backend.send(message, point_of_no_return=database_away)
    assert len(handler.deliveries) == 1  # the unfinished message was dropped by the server


def test_a_rerun_after_the_provider_accepted_sends_nothing(smtp_server):
    controller, handler = smtp_server()
    settings = get_settings().model_copy(update={"email_url": smtp_url(controller)})
    job = email_job(settings)

    first = send_email.perform(job)
    again = send_email.perform(job)  # as after a crash before the job's success was written

    assert handler.message_ids() == [f"<{job.job_id}@lyceum.local>"]
    assert again["already_sent"] is True and "already_sent" not in first
    done = effects.recorded(effects.effect_key(job.job_id, "email"), settings)
    assert done.status == effects.EffectStatus.DONE


def test_a_refused_message_may_be_sent_by_a_retry(smtp_server):
    refusing = RecordingHandler(data_reply="451 4.3.0 try again later")
    controller, _ = smtp_server(refusing)
    settings = get_settings().model_copy(update={"email_url": smtp_url(controller)})
    job = email_job(settings)
    with pytest.raises(TransientJobError) as refused:
        send_email.perform(job)
    assert refused.value.code == "SMTP_TEMPORARY"
    assert effects.recorded(effects.effect_key(job.job_id, "email"), settings) is None

    controller2, accepting = smtp_server()
    settings = settings.model_copy(update={"email_url": smtp_url(controller2)})
    send_email.perform(JobContext(job.job_id, job.kind, job.payload, 2, job.progress, settings))
    assert accepting.message_ids() == [f"<{job.job_id}@lyceum.local>"]


def test_outbox_skips_a_message_id_it_already_has(tmp_path):
    settings = get_settings().model_copy(update={"email_url": f"outbox://{tmp_path}"})
    job = email_job(settings)
    send_email.perform(job)
    with session_scope() as session:  # a lost record: the outbox itself still says no
        session.execute(
            effects.EffectDelivery.__table__.delete().where(
                effects.EffectDelivery.key == effects.effect_key(job.job_id, "email")
            )
        )
    send_email.perform(job)
    assert len(list(tmp_path.glob("*.eml"))) == 1
