"""Admin: job details, retries and the live job event stream."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType, convert_camel_case_to_snake

from lms.admin import jobs as admin_jobs
from lms.jobs.models import Job, JobEvent
from lms.jobs.service import JOB_TOPIC
from lms.security import require_role
from lms.users.models import Role

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
job_type = ObjectType("Job")


def job_view(job: Job, events: list[JobEvent] | None = None) -> dict[str, Any]:
    view = {column: getattr(job, column) for column in Job.__table__.columns.keys()}
    view["queue_name"] = job.queue
    view["status"] = job.status.value
    view["events"] = [
        {
            "job_id": job.id, "kind": job.kind, "queue_name": job.queue, "status": e.status.value,
            "attempt": e.attempt, "progress": e.progress, "message": e.message,
            "error_code": e.error_code, "worker": e.worker, "subject_type": job.subject_type,
            "subject_id": job.subject_id, "at": e.created_at,
        }
        for e in events or []
    ]
    return view


@job_type.field("errorTraceback")
def resolve_error_traceback(job: dict, info) -> str | None:
    return job["error_traceback"] if info.context.viewer.is_admin else None


@query.field("jobDetails")
async def resolve_job_details(_, info, queue_name: str, job_id: str) -> dict:
    ctx = info.context
    job, events = await ctx.read(
        admin_jobs.job_details, ctx.require_viewer(), queue_name=queue_name, job_id=job_id
    )
    return job_view(job, events)


@mutation.field("retryJobs")
async def resolve_retry_jobs(_, info, input: dict) -> dict:
    ctx = info.context
    jobs = await ctx.write(
        admin_jobs.retry_jobs,
        ctx.require_viewer(),
        job_id=input.get("job_id"),
        queue_name=input.get("queue_name"),
        since=input.get("since"),
    )
    return {"retriedCount": len(jobs), "jobs": [job_view(job) for job in jobs]}


@subscription.source("jobEvents")
async def job_events_source(_, info, queue_name: str | None = None):
    ctx = info.context
    require_role(ctx.require_viewer(), Role.ADMIN)
    async with ctx.hub.listen(JOB_TOPIC) as events:
        while True:
            event = await events.get()
            if queue_name is None or event.get("queueName") == queue_name:
                yield event


@subscription.field("jobEvents")
def resolve_job_events(event: dict, *_args, **_kwargs) -> dict:
    return {convert_camel_case_to_snake(key): value for key, value in event.items()}


bindables = [query, mutation, subscription, job_type]
