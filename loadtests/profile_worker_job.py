"""Where a worker's CPU goes per short job, on PostgreSQL and RabbitMQ (issue 11).

    .venv/bin/python -m loadtests.profile_worker_job [--n 1000] [--profile] [--top 40]
        [--tracing URL]

In one process, on a database and a vhost of its own: N `system.noop` jobs are enqueued
(nothing consumes them), then each is run here through Celery's own task call
(`Task.apply`: the request, `JobTask.run_job`, the start and succeed transitions, the lease,
the writer thread's success write and bus events). CPU milliseconds per job is this
process's CPU (every thread, so the writer thread counts) from the first run until the
writer thread has landed the last write. `--profile` prints the cProfile of that loop
(thread CPU time, cumulative and own, for the task's thread and the writer thread).
What the worker's consumer does around a task (Celery's strategy, acks, events) is not
here; `bench_jobs` measures the whole worker. Nothing is asserted; the last line is JSON.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.environment import job_profile_arguments, job_profile_environment  # noqa: E402

DATABASE = f"lyceum_profile_{os.getpid()}"


def main(argv: list[str] | None = None) -> int:
    args = job_profile_arguments(__doc__, argv)
    with job_profile_environment(DATABASE, args, "worker") as settings:
        from lms.db import session_scope
        from lms.jobs import publishing, writer
        from lms.jobs.service import enqueue
        from tasks.system import noop

        warm = 50
        ids: list[str] = []
        for start in range(0, args.n + warm, 100):
            with session_scope(settings) as session:
                count = min(100, args.n + warm - start)
                ids += [
                    str(enqueue(session, "system.noop", settings=settings).id) for _ in range(count)
                ]
        publishing.flush(60)

        def run(batch: list[str]) -> None:
            for job_id in batch:
                noop.apply(args=(job_id,), hostname="profile@local", task_id=job_id)
            writer.flush(60)

        run(ids[:warm])  # connections, compiled statements, first bus publish
        # CPU time per thread, not wall time: waits for PostgreSQL are not the worker's CPU.
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        in_writer = cProfile.Profile(time.thread_time) if args.profile else None
        if in_writer:
            writer.submit(in_writer.enable)  # profiles the thread it is enabled on
            writer.flush(60)
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        run(ids[warm:])
        if profiler:
            profiler.disable()
            writer.submit(in_writer.disable)
            writer.flush(60)
        cpu_ms = (time.process_time() - cpu) * 1000 / args.n
        wall_ms = (time.perf_counter() - wall) * 1000 / args.n
        with session_scope(settings) as session:
            from sqlalchemy import text

            done = session.execute(
                text("SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'")
            ).scalar_one()
        if profiler:
            for name, each in (("task thread", profiler), ("writer thread", in_writer)):
                print(f"=== {name} (CPU seconds) ===")
                stats = pstats.Stats(each).sort_stats("cumulative")
                stats.print_stats(args.top)
                stats.sort_stats("tottime").print_stats(args.top)
        print(
            json.dumps(
                {
                    "n": args.n,
                    "succeeded": done - warm,
                    "profiled": bool(profiler),
                    "cpu_ms_per_job": round(cpu_ms, 3),
                    "wall_ms_per_job": round(wall_ms, 3),
                    "load": os.getloadavg()[0],
                }
            )
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
