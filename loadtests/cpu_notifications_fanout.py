"""Fan-out against COPY in CPU time, round after round: what a batch costs this process and
its PostgreSQL backend, which a loaded machine's waiting for a core does not blur.

    .venv/bin/python -m loadtests.cpu_notifications_fanout [--recipients 10000] [--rounds 5]

Each round stores one announcement to every recipient by `create_batch` (the fan-out job's
step, in this process, no worker) and then the same notification rows by one COPY
(`bench_notifications.copy_rows`), each committed. For both it reads the wall time, this
process's CPU time and the CPU time of the backend serving the connection
(`/proc/<pg_backend_pid>/stat`: PostgreSQL must run on this machine). The fan-out's wall
time ends at its commit, as the job does; its CPU time also counts the live events that a
background thread publishes after the commit (waited for, so that they do not spill into
the next round). Prints one line per round, then the medians and their ratio (COPY over
fan-out, as the benchmark's `ratio`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.bench_notifications import BODY, TITLE, copy_rows, make_students
from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment

CPU_DB = f"lyceum_cpu_fanout_{os.getpid()}"
TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Meter:
    """Wall, own CPU and backend CPU of one committed unit of work."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> Meter:
        self.db = backend_cpu(self.pid)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def stop_wall(self) -> None:
        self.wall = time.perf_counter() - self.wall
        self.walled = True

    def __exit__(self, *_exc) -> None:
        if not getattr(self, "walled", False):
            self.stop_wall()
        self.cpu = time.process_time() - self.cpu
        self.db = backend_cpu(self.pid) - self.db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-cpu-var-"))
    broker_url, own_vhost = isolated_broker_url(CPU_DB)
    use_environment(var_dir, broker_url, CPU_DB)
    try:
        admin_sql(f'CREATE DATABASE "{CPU_DB}"')
        import psycopg
        from sqlalchemy import text

        from lms.config import get_settings
        from lms.db import session_scope
        from lms.migrate import upgrade
        from lms.events import ordered
        from lms.notifications.service import Spec, create_batch

        upgrade(get_settings())
        ids = make_students(args.recipients, "http://127.0.0.1:9")
        with session_scope() as session:  # connections and compiled statements
            create_batch(session, ids[:20], Spec(type="SYSTEM", title="warm-up", key="warm"))
        raw = psycopg.connect(os.environ["LMS_DATABASE_URL"])
        raw_pid = raw.info.backend_pid
        rows = []
        for n in range(args.rounds):
            spec = Spec(type="ANNOUNCEMENT", title=TITLE, body=BODY, key=f"announcement:{n}")
            with session_scope() as session:
                pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
                with Meter(pid) as fanout:
                    create_batch(session, ids, spec)
                    session.commit()
                    # The job ends here; its live events go out after, from a background
                    # thread of the same process: their CPU counts, their time does not.
                    fanout.stop_wall()
                    ordered._thread().submit(lambda: None).result()  # after the events
            with Meter(raw_pid) as copy:
                copy_rows(raw, ids, f"raw:{n}")
                raw.commit()
            row = {
                "fanout": [round(fanout.wall, 3), round(fanout.cpu, 3), round(fanout.db, 2)],
                "copy": [round(copy.wall, 3), round(copy.cpu, 3), round(copy.db, 2)],
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        raw.close()

        def median(kind: str, i: int) -> float:
            return statistics.median(r[kind][i] for r in rows)

        summary = {"recipients": len(ids), "rounds": args.rounds}
        for i, name in enumerate(("wall_s", "client_cpu_s", "backend_cpu_s")):
            summary[f"fanout_{name}"] = round(median("fanout", i), 3)
            summary[f"copy_{name}"] = round(median("copy", i), 3)
        for name in ("wall", "cpu"):
            ours = ("wall_s",) if name == "wall" else ("client_cpu_s", "backend_cpu_s")
            fanout = sum(summary[f"fanout_{o}"] for o in ours)
            copy = sum(summary[f"copy_{o}"] for o in ours)
            summary[f"ratio_{name}"] = round(copy / fanout, 3)
        print(json.dumps(summary))
    finally:
        release(CPU_DB, CPU_DB, own_vhost, var_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
