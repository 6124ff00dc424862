"""The pipeline engine on real job rows in PostgreSQL: a declaration becomes tasks and child
jobs; steps advance, a failure ends the pipeline with the step's code, a retry resumes at
the failed step, a cancel ends waiting work at once. The registered Celery tasks run in
this process (`Task.apply`), so the task base records what a worker would."""

from __future__ import annotations

import uuid

import pytest
from kombu import Connection
from sqlalchemy import select

from lms.config import get_settings
from lms.db import session_scope
from lms.errors import PermanentJobError
from lms.jobs import pipelines
from lms.jobs.models import Job, JobStatus
from lms.jobs.pipelines import Pipeline, Step
from pipelines import engine
from pipelines.registry import register

# A queue no test worker consumes by default: the messages these jobs publish are removed
# again at the end, so no later worker meets task names it does not know.
PREFIX = f"analytics.pt{uuid.uuid4().hex[:6]}"
DECLARED = Pipeline(
    name="engine_test",
    kind=f"{PREFIX}.run",
    subject="engine_test",
    steps=(
        Step("fetch", f"{PREFIX}.fetch", 0.25, max_attempts=2),
        Step("crunch", f"{PREFIX}.crunch", 0.75, max_attempts=2, time_limit=30),
    ),
)
BROKEN: set[str] = set()  # subject ids whose `crunch` step fails
FAILURES: list[tuple[str, str]] = []  # what `on_failure` heard


def fetch(run: engine.StepRun) -> dict:
    run.progress(0.5, "half way", force=True)
    return {"fetched": run.job.payload[DECLARED.subject_key]}


def crunch(run: engine.StepRun) -> dict:
    if run.job.payload[DECLARED.subject_key] in BROKEN:
        raise PermanentJobError("cannot crunch this", code="CRUNCH_FAILED")
    return {"crunched": run.results["fetch"]["fetched"]}


BOUND = engine.bind(
    DECLARED,
    {"fetch": fetch, "crunch": crunch},
    on_failure=lambda session, row, run, code, message: FAILURES.append((code, message)),
)
TASKS = {task.name: task for task in register(BOUND)}


@pytest.fixture(autouse=True, scope="module")
def _remove_our_messages():
    yield
    with Connection(get_settings().broker_url) as connection:
        queue = connection.SimpleQueue("analytics")
        others = []
        try:
            while True:
                message = queue.get(block=True, timeout=0.5)
                if message.headers.get("task", "").startswith(PREFIX):
                    message.ack()
                else:
                    others.append(message)
        except queue.Empty:
            pass
        for message in others:
            message.requeue()
        queue.close()


def job(job_id) -> Job:
    with session_scope() as session:
        return session.get(Job, job_id)


def children(parent_id) -> dict[str, Job]:
    with session_scope() as session:
        return pipelines.latest_steps(session, parent_id)


def start(subject_id: str) -> uuid.UUID:
    with session_scope() as session:
        return pipelines.start(session, DECLARED, subject_id).id


def run_task(kind: str, job_id) -> None:
    TASKS[kind].apply(args=[str(job_id)])


def run_next_step(parent_id) -> Job:
    """Run the step that is waiting, as its worker would; the step's row afterwards."""
    waiting = [j for j in children(parent_id).values() if j.status == JobStatus.QUEUED]
    assert len(waiting) == 1, [(j.kind, j.status) for j in children(parent_id).values()]
    run_task(waiting[0].kind, waiting[0].id)
    return job(waiting[0].id)


def test_a_declaration_becomes_tasks_queues_and_checked_code():
    assert set(TASKS) == {DECLARED.kind, f"{PREFIX}.fetch", f"{PREFIX}.crunch"}
    # The declared limit is Celery's soft limit (STEP_TIME_LIMIT); the hard one backs it up.
    assert TASKS[f"{PREFIX}.crunch"].soft_time_limit == 30
    assert TASKS[f"{PREFIX}.crunch"].time_limit == 60
    assert TASKS[f"{PREFIX}.fetch"].soft_time_limit is None


def test_video_ingest_and_certificates_declare_limits_from_the_settings():
    from lms.content.steps import VIDEO_INGEST
    from lms.enrollments.certificates import CERTIFICATE_ISSUANCE
    from lms.enrollments.settings import enrollment_settings
    from pipelines.registry import TASKS as REGISTERED

    settings = get_settings()
    limits = {step.name: step.time_limit for step in VIDEO_INGEST.steps}
    assert limits["transcode"] == settings.video_max_seconds * settings.video_transcode_time_factor
    assert limits["validate"] == limits["finalize"] == settings.video_step_time_limit_seconds
    assert REGISTERED["media.transcode"].soft_time_limit == limits["transcode"]
    certificate_limit = enrollment_settings().certificate_time_limit_seconds
    assert CERTIFICATE_ISSUANCE.time_limit == certificate_limit
    assert REGISTERED["certificates.issue"].soft_time_limit == certificate_limit
    assert [step.queue for step in DECLARED.steps] == ["analytics", "analytics"]
    assert DECLARED.done_before(DECLARED.step("crunch")) == 0.25
    with pytest.raises(ValueError, match="add up to 1"):
        Pipeline("bad", "analytics.bad", "x", (Step("a", "analytics.bad_a", 0.5),))
    with pytest.raises(ValueError, match="job kind of its own"):
        Pipeline("bad", "analytics.bad", "x", (Step("a", "analytics.bad", 1.0),))
    with pytest.raises(ValueError, match="code for"):
        engine.Bound(DECLARED, {"fetch": fetch})  # a declared step without code


def test_steps_advance_in_the_transaction_that_ends_them_until_the_pipeline_succeeds():
    parent_id = start(subject := uuid.uuid4().hex)
    run_task(DECLARED.kind, parent_id)
    assert job(parent_id).status == JobStatus.RUNNING
    assert {j.kind: j.status for j in children(parent_id).values()} == {
        f"{PREFIX}.fetch": JobStatus.QUEUED
    }

    fetched = run_next_step(parent_id)
    assert fetched.status == JobStatus.SUCCEEDED and fetched.result == {"fetched": subject}
    assert fetched.parent_id == parent_id and fetched.max_attempts == 2
    parent = job(parent_id)
    assert parent.status == JobStatus.RUNNING and parent.progress == 0.25
    crunch_job = children(parent_id)[f"{PREFIX}.crunch"]
    assert crunch_job.status == JobStatus.QUEUED  # queued by the commit that ended `fetch`

    crunched = run_next_step(parent_id)
    assert crunched.status == JobStatus.SUCCEEDED and crunched.result == {"crunched": subject}
    parent = job(parent_id)
    assert parent.status == JobStatus.SUCCEEDED and parent.result == {"crunched": subject}
    assert parent.progress == 1.0 and parent.finished_at is not None


def test_a_failed_step_fails_the_pipeline_and_a_retry_resumes_there():
    BROKEN.add(subject := uuid.uuid4().hex)
    parent_id = start(subject)
    run_task(DECLARED.kind, parent_id)
    fetched = run_next_step(parent_id)
    failed = run_next_step(parent_id)
    assert failed.status == JobStatus.FAILED and failed.error_code == "CRUNCH_FAILED"
    parent = job(parent_id)
    assert parent.status == JobStatus.FAILED and parent.error_code == "CRUNCH_FAILED"
    assert ("CRUNCH_FAILED", "cannot crunch this") in FAILURES

    BROKEN.discard(subject)  # mended: run it again
    with session_scope() as session:
        pipelines.retry(session, DECLARED, session.get(Job, parent_id))
    run_task(DECLARED.kind, parent_id)
    steps = children(parent_id)
    # `fetch` is not run again; `crunch` is queued again as the same job
    assert steps[f"{PREFIX}.fetch"].id == fetched.id and job(fetched.id).attempts == 1
    assert steps[f"{PREFIX}.crunch"].id == failed.id
    assert steps[f"{PREFIX}.crunch"].status == JobStatus.QUEUED
    resumed = run_next_step(parent_id)
    assert resumed.id == failed.id and resumed.status == JobStatus.SUCCEEDED
    assert resumed.attempts == 2
    assert job(parent_id).status == JobStatus.SUCCEEDED
    with session_scope() as session:  # one row per step, however often it ran
        assert len(session.scalars(select(Job).where(Job.parent_id == parent_id)).all()) == 2


def test_cancel_ends_a_waiting_pipeline_and_its_queued_step_at_once():
    parent_id = start(uuid.uuid4().hex)
    run_task(DECLARED.kind, parent_id)
    with session_scope() as session:
        parent = session.get(Job, parent_id)
        assert pipelines.cancel(session, DECLARED, parent) is True
    assert job(parent_id).status == JobStatus.CANCELLED
    assert [j.status for j in children(parent_id).values()] == [JobStatus.CANCELLED]
    run_task(f"{PREFIX}.fetch", children(parent_id)[f"{PREFIX}.fetch"].id)  # a late message
    assert [j.attempts for j in children(parent_id).values()] == [0]
