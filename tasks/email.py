"""Email delivery: render a repo template and hand it to the configured backend."""

from __future__ import annotations

from lms.mail import mail_backend, render_email
from tasks.base import JobContext, job_task


@job_task("email.send")
def send_email(job: JobContext) -> dict:
    payload = job.payload
    # One Message-ID per job: a retry or redelivery replaces the same outbox file and
    # lets a receiving server de-duplicate.
    message = render_email(
        payload["template"],
        payload.get("context") or {},
        to=payload["to"],
        sender=job.settings.mail_sender,
        message_id=f"<{job.job_id}@lyceum.local>",
    )
    delivered = mail_backend(job.settings.email_url).send(message)
    return {"to": payload["to"], "template": payload["template"], "delivery": delivered}
