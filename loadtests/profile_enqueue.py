"""Where a producer's CPU goes per enqueued job, on PostgreSQL and RabbitMQ (issue 11).

    .venv/bin/python -m loadtests.profile_enqueue [--n 1000] [--profile] [--top 40] [--tracing URL]

In one process, on a database and a vhost of its own, nothing consuming: N `system.noop`
jobs are enqueued one per committed transaction, as `bench_jobs`'s burst does (the row and
its QUEUED event, the commit, the QUEUED bus event, the after-commit publish with its
publisher confirm and the publish stamp, these two on threads of their own). CPU
milliseconds per job is this process's CPU (every thread) from the first enqueue until the
last publish and stamp landed; wall milliseconds per job is the producer's pace. Also
counted: messages on the queue, jobs stamped published. `--profile` prints the cProfile
(thread CPU time) of the enqueuing thread. Nothing is asserted; the last line is JSON.
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

DATABASE = f"lyceum_profile_enqueue_{os.getpid()}"


def main(argv: list[str] | None = None) -> int:
    args = job_profile_arguments(__doc__, argv)
    with job_profile_environment(DATABASE, args, "api") as settings:
        from sqlalchemy import text

        from lms.db import session_scope
        from lms.jobs import publishing, stamps, writer
        from lms.jobs.broker import publisher
        from lms.jobs.service import enqueue

        app = publisher(settings)  # declares the durable queues

        def run(count: int) -> None:
            for _ in range(count):
                with session_scope(settings) as session:
                    enqueue(session, "system.noop", settings=settings)

        def settle() -> None:
            publishing.flush(60)
            stamps.flush()  # the stamps still waiting out their delay, written now
            writer.flush(60)

        run(50)  # connections, compiled statements, the first publish
        settle()
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        run(args.n)
        if profiler:
            profiler.disable()
        produced = time.perf_counter()
        settle()
        cpu_ms = (time.process_time() - cpu) * 1000 / args.n
        wall_ms = (produced - wall) * 1000 / args.n
        settled_ms = (time.perf_counter() - wall) * 1000 / args.n
        with session_scope(settings) as session:
            stamped = session.execute(
                text("SELECT count(*) FROM jobs WHERE published_at IS NOT NULL")
            ).scalar_one()
        with app.connection_for_write() as connection:
            queued = connection.default_channel.queue_declare("default", passive=True)
        if profiler:
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
        print(
            json.dumps(
                {
                    "n": args.n,
                    "profiled": bool(profiler),
                    "cpu_ms_per_job": round(cpu_ms, 3),
                    "wall_ms_per_job": round(wall_ms, 3),
                    "settled_ms_per_job": round(settled_ms, 3),
                    "stamped": stamped - 50,
                    "messages_queued": queued.message_count - 50,
                    "load": os.getloadavg()[0],
                }
            )
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
