"""Email delivery: render a repo template and hand it to the configured backend, once.

The job's idempotency key (`job:<id>:email`) guards the send: the delivery is recorded in
`effect_deliveries` at SMTP's point of no return and when the provider accepted it, so a
re-run after a killed worker or a lost final write finds the record and does not send
again. The Message-ID is derived from the job too, so receivers can de-duplicate as well.
"""

from __future__ import annotations

from lms.errors import LmsError, PermanentJobError
from lms.jobs import effects
from lms.mail import mail_backend, render_email
from lms.observability import metrics
from tasks.base import JobContext, job_task

EFFECT = "email"
# The server may have delivered before the connection broke: keep the record, no resend.
_AMBIGUOUS = {"SMTP_UNAVAILABLE"}


@job_task("email.send")
def send_email(job: JobContext) -> dict:
    payload = job.payload
    key = effects.effect_key(job.job_id, EFFECT)
    outcome = {"to": payload["to"], "template": payload["template"]}
    earlier = effects.recorded(key, job.settings)
    if earlier is not None:
        return {**outcome, "delivery": earlier.provider_id, "already_sent": True}
    message = render_email(
        payload["template"],
        payload.get("context") or {},
        to=payload["to"],
        sender=job.settings.mail_sender,
        message_id=f"<{job.job_id}@lyceum.local>",
    )

    def point_of_no_return() -> None:
        effects.mark_sending(key, job_id=job.job_id, effect=EFFECT, settings=job.settings)

    try:
        delivered = mail_backend(job.settings.email_url).send(
            message, idempotency_key=key, point_of_no_return=point_of_no_return
        )
    except LmsError as error:
        if error.code not in _AMBIGUOUS:  # refused: nothing went out, a retry may send
            effects.forget(key, job.settings)
        # Permanent refusals fail the job; the rest are retried by the job machinery.
        permanent = isinstance(error, PermanentJobError)
        metrics.delivered("email", "failed" if permanent else "deferred")
        raise
    metrics.delivered("email", "sent")
    effects.mark_done(
        key, job_id=job.job_id, effect=EFFECT, provider_id=delivered, settings=job.settings
    )
    return {**outcome, "delivery": delivered}
