"""Where a notification fan-out batch spends its time: `create_batch` in this process under
cProfile, on PostgreSQL, without a worker (no broker round trips to the worker, no email
sending beside it), against one COPY of the same rows.

    .venv/bin/python -m loadtests.profile_notifications_fanout [--recipients 10000] [--batch N]

The recipients are the benchmark's (`bench_notifications.make_students`: half on a daily
digest, a tenth with a push subscription). Prints the batches' wall time, the COPY's, and
the top of the profile by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.bench_notifications import make_students, raw_copy
from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment

PROFILE_DB = f"lyceum_profile_fanout_{os.getpid()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=None, help="default: the configured one")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--cpu", action="store_true", help="profile this process's CPU time, not wall time"
    )
    args = parser.parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-profile-var-"))
    broker_url, own_vhost = isolated_broker_url(PROFILE_DB)
    use_environment(var_dir, broker_url, PROFILE_DB)
    try:
        admin_sql(f'CREATE DATABASE "{PROFILE_DB}"')
        from lms.config import get_settings
        from lms.db import session_scope
        from lms.migrate import upgrade
        from lms.notifications.service import Spec, create_batch
        from lms.notifications.settings import notifications_settings

        upgrade(get_settings())
        ids = make_students(args.recipients, "http://127.0.0.1:9")
        batch = args.batch or notifications_settings().fanout_batch
        with session_scope() as session:  # connections and compiled statements
            create_batch(session, ids[:20], Spec(type="SYSTEM", title="warm-up", key="warm"))
        spec = Spec(type="ANNOUNCEMENT", title="Week 1 is online", key="announcement:profile")
        print("loadavg at start:", Path("/proc/loadavg").read_text().strip(), flush=True)
        # On a shared machine wall time is mostly waiting for a core; CPU time is ours.
        profile = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
        started, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        for start in range(0, len(ids), batch):
            with session_scope() as session:
                create_batch(session, ids[start : start + batch], spec)
        profile.disable()
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        copy_s = raw_copy(ids)
        print(
            f"{len(ids)} recipients in batches of {batch}: {took:.3f} s ({cpu:.3f} s CPU here); "
            f"COPY of the same rows {copy_s:.3f} s (in-process ratio {copy_s / took:.3f}); "
            f"loadavg {Path('/proc/loadavg').read_text().split()[:3]}"
        )
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    finally:
        release(PROFILE_DB, PROFILE_DB, own_vhost, var_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
