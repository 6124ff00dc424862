"""Every pipeline of `pipelines/`, and its Celery tasks, registered from the declarations.

Each module here binds one declaration to its code (`engine.bind`) when imported, so a new
pipeline is a new module and nothing else. The Celery app includes this module
(`tasks/app.py`); it imports the pipeline modules and registers, for each pipeline, a task
for its parent job (it starts or resumes the pipeline) and one per step, or, for an inline
pipeline, one for its job: each named by its job kind, with the declared time limit.
Nothing in `tasks/` imports a pipeline.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

from celery import Task

import pipelines
from pipelines import engine
from tasks.base import job_task, parent_job_task

_NOT_PIPELINES = frozenset({"engine", "registry"})


def declared() -> tuple[engine.Bound, ...]:
    """Import every pipeline module; the pipelines they bound."""
    for module in pkgutil.iter_modules(pipelines.__path__):
        if module.name not in _NOT_PIPELINES:
            importlib.import_module(f"{pipelines.__name__}.{module.name}")
    return engine.bound_pipelines()


def _limits(seconds: float | None) -> dict[str, Any]:
    """Celery's soft limit at the declared time (the task base and the engine end the step
    FAILED with STEP_TIME_LIMIT; unwinding kills its ffmpeg), and a hard limit a little later
    that kills the pool process should the step not unwind (its lease then expires)."""
    if not seconds:
        return {}
    return {"soft_time_limit": seconds, "time_limit": seconds + max(30.0, seconds / 10)}


def register(bound: engine.Bound) -> list[Task]:
    """The Celery tasks of one bound pipeline."""
    pipeline = bound.pipeline
    if pipeline.inline:
        perform = functools.partial(engine.run_inline, bound)
        return [job_task(pipeline.kind, **_limits(pipeline.time_limit))(perform)]
    return [
        parent_job_task(pipeline.kind, functools.partial(engine.begin, bound)),
        *(
            job_task(step.kind, **_limits(step.time_limit))(
                functools.partial(engine.run_step, bound, step)
            )
            for step in pipeline.steps
        ),
    ]


TASKS = {task.name: task for bound in declared() for task in register(bound)}
