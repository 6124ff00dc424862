"""Admin: queue and job monitoring — dashboard, health, history, job details, retries,
queue controls, alerts, exports and the live streams (admins only).

Worker inspection and broker calls block (up to the inspect timeout), so they run in a
thread, never inside a database session; the services then add the durable history.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType

from lms.admin import alerts as admin_alerts
from lms.admin import audit_log, dashboard, exports, job_search, queues
from lms.admin import jobs as admin_jobs
from lms.admin.broker_stats import queue_depths
from lms.admin.inspection import Inspection, inspect_workers
from lms.events.topics import ALERT, ANY, JOB, QUEUE_STATS
from lms.jobs.models import Job, JobEvent
from lms.jobs.queues import QUEUES
from web.events import EventView

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
            "job_id": job.id,
            "kind": job.kind,
            "queue_name": job.queue,
            "status": e.status.value,
            "attempt": e.attempt,
            "progress": e.progress,
            "message": e.message,
            "error_code": e.error_code,
            "worker": e.worker,
            "subject_type": job.subject_type,
            "subject_id": job.subject_id,
            "at": e.created_at,
        }
        for e in events or []
    ]
    return view


@job_type.field("downloads")
def resolve_downloads(job: dict, info) -> list[dict]:
    if not admin_jobs.may_download_export(info.context.viewer, job.get("requested_by_id")):
        return []
    return exports.download_links(job.get("result"), info.context.settings)


@job_type.field("errorTraceback")
def resolve_error_traceback(job: dict, info) -> str | None:
    return job["error_traceback"] if admin_jobs.may_see_traceback(info.context.viewer) else None


@job_type.field("children")
async def resolve_children(job: dict, info) -> list[dict]:
    ctx = info.context
    children = await ctx.read(job_search.children_of, ctx.require_viewer(), job["id"])
    return [job_view(child) for child in children]


@query.field("jobs")
async def resolve_jobs(_, info, filter: dict | None = None, offset: int = 0, limit: int = 50):
    ctx = info.context
    page = await ctx.read(
        job_search.search_jobs, ctx.require_viewer(), filter=filter, offset=offset, limit=limit
    )
    return {**page, "items": [job_view(job) for job in page["items"]]}


@query.field("jobHistory")
async def resolve_job_history(
    _, info, queue_name: str | None = None, hours: int = 6, bucket_minutes: int = 10
) -> list[dict]:
    ctx = info.context
    return await ctx.read(
        job_search.job_history,
        ctx.require_viewer(),
        queue_name=queue_name,
        hours=hours,
        bucket_minutes=bucket_minutes,
    )


@query.field("adminAuditLog")
async def resolve_admin_audit_log(_, info, limit: int = 50) -> list[dict]:
    ctx = info.context
    return await ctx.read(audit_log.control_actions, ctx.require_viewer(), limit=limit)


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
    return {"retried_count": len(jobs), "jobs": [job_view(job) for job in jobs]}


@subscription.source("jobEvents")
async def job_events_source(_, info, queue_name: str | None = None):
    ctx = info.context
    admin_jobs.require_operator(ctx.require_viewer())
    # Operators watch every job: all keys, filtered by queue here (few such streams).
    async for event in ctx.hub.stream(JOB, ANY):
        if queue_name is None or event["queueName"] == queue_name:
            yield event


@subscription.field("jobEvents")
def resolve_job_events(event: dict, *_args, **_kwargs) -> dict:
    return event


def _admin(info):
    """Authorize before any expensive broadcast; the services check again."""
    viewer = info.context.require_viewer()
    admin_jobs.require_operator(viewer)
    return viewer


async def _live(settings, *, workers: bool, fresh: bool = False) -> tuple[dict, Inspection | None]:
    depths_call = asyncio.to_thread(queue_depths, QUEUES, settings)
    if not workers:
        return await depths_call, None
    inspect_call = asyncio.to_thread(inspect_workers, settings, fresh=fresh)
    return tuple(await asyncio.gather(depths_call, inspect_call))


@query.field("jobDashboard")
async def resolve_job_dashboard(_, info) -> dict:
    ctx = info.context
    viewer = _admin(info)
    # The dashboard is where an operator looks for a dead worker: never a cached answer.
    depths, inspection = await _live(ctx.settings, workers=True, fresh=True)
    view = await ctx.read(dashboard.job_dashboard, viewer, depths=depths, inspection=inspection)
    view["recent_failures"] = [job_view(job) for job in view["recent_failures"]]
    return EventView(view)  # its alerts are bus-shaped (camelCase)


@query.field("realtimeQueueStats")
async def resolve_realtime_queue_stats(_, info) -> dict:
    ctx = info.context
    viewer = _admin(info)
    # Only the embedded broker needs the workers to count consumers.
    depths, inspection = await _live(ctx.settings, workers=ctx.settings.broker_is_filesystem)
    snapshot = await ctx.read(
        dashboard.realtime_stats, viewer, depths=depths, inspection=inspection
    )
    return EventView(snapshot)  # the `queueStatsUpdated` payload: camelCase


@query.field("queueHealth")
async def resolve_queue_health(_, info, queue_name: str | None = None) -> list[dict]:
    ctx = info.context
    viewer = _admin(info)
    if queue_name is not None and queue_name not in QUEUES:  # fail fast, before the broker
        return await ctx.read(
            dashboard.queue_health, viewer, queue_name=queue_name, depths={}, inspection=None
        )
    depths, inspection = await _live(ctx.settings, workers=ctx.settings.broker_is_filesystem)
    return await ctx.read(
        dashboard.queue_health, viewer, queue_name=queue_name, depths=depths, inspection=inspection
    )


@query.field("jobEventHistory")
async def resolve_job_event_history(
    _, info, queue_name: str | None = None, limit: int | None = None
) -> list[dict]:
    ctx = info.context
    return await ctx.read(
        dashboard.job_event_history, ctx.require_viewer(), queue_name=queue_name, limit=limit
    )


@mutation.field("manageQueue")
async def resolve_manage_queue(_, info, input: dict) -> dict:
    ctx = info.context
    viewer = ctx.require_viewer()
    plan = await ctx.write(
        queues.prepare,
        viewer,
        queue_name=input["queue_name"],
        action=input["action"],
        reason=input.get("reason"),
    )
    outcome = await asyncio.to_thread(queues.carry_out, plan, ctx.settings)
    outcome = await ctx.write(queues.finish, viewer, outcome=outcome, settings=ctx.settings)
    return vars(outcome)


@mutation.field("exportMonitoringData")
async def resolve_export_monitoring_data(_, info, start_date, end_date) -> dict:
    ctx = info.context
    job = await ctx.write(
        exports.request_export, ctx.require_viewer(), start_date=start_date, end_date=end_date
    )
    return job_view(job)


@mutation.field("clearQueueAlerts")
async def resolve_clear_queue_alerts(_, info, queue_name: str | None = None) -> dict:
    ctx = info.context
    cleared = await ctx.write(
        admin_alerts.clear_alerts, ctx.require_viewer(), queue_name=queue_name
    )
    return {"cleared_count": len(cleared), "alerts": [EventView(alert) for alert in cleared]}


@subscription.source("queueStatsUpdated")
async def queue_stats_source(_, info):
    ctx = info.context
    viewer = _admin(info)

    async def current() -> dict:
        depths, inspection = await _live(ctx.settings, workers=ctx.settings.broker_is_filesystem)
        snapshot = await ctx.read(
            dashboard.realtime_stats, viewer, depths=depths, inspection=inspection
        )
        return EventView(snapshot)

    # The current numbers at once (and after a bus reconnect): no wait for the next tick.
    async for snapshot in ctx.hub.stream(QUEUE_STATS, ANY, current=current):
        yield snapshot


@subscription.field("queueStatsUpdated")
def resolve_queue_stats_updated(snapshot: dict, *_args, **_kwargs) -> dict:
    return snapshot


@subscription.source("jobAlerts")
async def job_alerts_source(_, info, severity: str | None = None):
    ctx = info.context
    _admin(info)
    async for alert in ctx.hub.stream(ALERT, ANY):
        if admin_alerts.severity_at_least(alert, severity):
            yield alert


@subscription.field("jobAlerts")
def resolve_job_alerts(alert: dict, *_args, **_kwargs) -> dict:
    return alert


bindables = [query, mutation, subscription, job_type]
