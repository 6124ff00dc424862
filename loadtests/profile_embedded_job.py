"""Where one short job's time goes on the embedded default (SQLite + filesystem broker).

    .venv/bin/python -m loadtests.profile_embedded_job [--n 300]

In one process, on a temporary var folder, times each step a job costs, one step at a
time, N times: the enqueue (row + commit + publish), the worker's status changes
(`lifecycle.start`, `lifecycle.succeed`, each a SQLite transaction plus a bus event), one
bus event alone, one raw Celery publish, and one claim of a message by a consumer. With
one bus listener bound, as `lms up` has (the API). CPU milliseconds per step (process
time, so other tenants of the machine do not count) and wall milliseconds; nothing is
asserted; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def measure(n: int, step) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(n):
        step(index)
    return {
        "cpu_ms": round((time.process_time() - cpu) * 1000 / n, 3),
        "wall_ms": round((time.perf_counter() - wall) * 1000 / n, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-profile-"))
    os.environ.update({"LMS_ENV": "test", "LMS_VAR_DIR": str(var_dir)})
    for name in ("LMS_DATABASE_URL", "LMS_BROKER_URL", "LMS_EMAIL_URL", "LMS_REDIS_URL"):
        os.environ.pop(name, None)
    try:
        from kombu import Connection

        from lms.config import get_settings
        from lms.db import session_scope
        from lms.events.bus import EventListener, publish_event
        from lms.jobs import lifecycle
        from lms.jobs.broker import broker_connection_args, publisher
        from lms.jobs.service import enqueue
        from lms.migrate import upgrade

        settings = get_settings()
        upgrade(settings)
        app = publisher(settings)
        listener = EventListener(lambda topic, data: None, settings).start()
        listener.ready.wait(15)
        n = args.n
        ids: list[uuid.UUID] = []

        def enqueue_one(_index: int) -> None:
            with session_scope(settings) as session:
                ids.append(enqueue(session, "system.noop", settings=settings).id)

        steps = {"enqueue (row, commit, publish)": measure(n, enqueue_one)}
        steps["lifecycle.start"] = measure(
            n, lambda i: lifecycle.start(ids[i], worker="w", task_id=None, settings=settings)
        )
        steps["lifecycle.succeed"] = measure(
            n, lambda i: lifecycle.succeed(ids[i], {"ok": True}, settings=settings)
        )
        steps["bus event alone"] = measure(n, lambda i: publish_event("x", {"i": i}, settings))
        steps["raw celery publish"] = measure(n, lambda i: app.send_task("system.raw_noop"))
        url, options = broker_connection_args(settings)
        with Connection(url, transport_options=options) as connection:
            channel = connection.default_channel  # no worker: the jobs and raw tasks wait
            steps["claim one message"] = measure(n, lambda i: channel._get("default"))
        listener.stop()
        for name, figures in steps.items():
            print(f"{name:<34} cpu {figures['cpu_ms']:7.3f} ms   wall {figures['wall_ms']:7.3f} ms")
        print(json.dumps({"n": n, "load_avg": os.getloadavg()[0], "steps": steps}))
        return 0
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
