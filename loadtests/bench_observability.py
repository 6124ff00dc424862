"""What tracing costs: OpenTelemetry on (exporting to a local collector) against off, in
one run, on the catalog's uncached GraphQL throughput and on the job rate.

    .venv/bin/python -m loadtests.bench_observability [--duration 15] [--users 30] [--n 1000]
        [--rounds 2]

It creates its own PostgreSQL database and RabbitMQ vhost (loadtests/environment.py),
migrates, seeds `--courses` published courses (run_catalog_load.seed), and starts a local
OTLP/HTTP collector in this process (it accepts and counts span batches). Then, each
variant alternating, off first and last: off, on, off, on, off for `--rounds 2` (each on
run sits between two off runs, so a drift of the machine during the run cancels out):

- api: `lms serve` with the response cache off, saturated by locust with no think time
  (run_catalog_load's scenario: course lists, one course by id, one by slug) for
  `--duration` seconds; requests/s;
- jobs: a child process of this script enqueues `--n` `system.noop` jobs, one per
  transaction, on one worker (`lms worker -Q default -c 2`), as bench_jobs.py's jobs burst
  does; jobs/s from the first enqueue to the last finish, and CPU ms per job (the
  enqueuing process with its threads plus every process of the worker, from /proc). With
  tracing on, both the enqueuing process and the worker export spans (enqueue, job, SQL).

Each round's cost is the fraction lost against its two neighbours, 1 - on / mean(off
before, off after); `tracing_api_cost` and `tracing_jobs_cost` are the median of the
rounds (goal: under 0.10), `*_cost_rounds` each round's. `*_off_spread` is how much the off
runs differ ((max - min) / mean), the noise the cost is to be read against. CPU time per
request or job is less at the mercy of other tenants than a rate: `tracing_api_cpu_cost`
and `tracing_jobs_cpu_cost` are the extra CPU per request and per job with tracing on
(on / mean of the offs beside it - 1, median of the rounds). The last line is one JSON
object. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_observability.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment  # noqa: E402

BENCH_DB = f"lyceum_bench_observability_{os.getpid()}"
BENCH_VHOST = f"lyceum_bench_observability_{os.getpid()}"


def order(rounds: int) -> list[str]:
    """off, then (on, off) per round."""
    return ["off"] + ["on", "off"] * rounds


class Collector:
    """An OTLP/HTTP endpoint that accepts span batches (and counts them)."""

    def __init__(self) -> None:
        counts = self.counts = {"requests": 0, "bytes": 0}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                counts["requests"] += 1
                counts["bytes"] += length
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tracing_env(variant: str, collector: Collector) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "LMS_OTEL_ENDPOINT"}
    if variant == "on":
        env["LMS_OTEL_ENDPOINT"] = collector.endpoint
    return env


# api ----------------------------------------------------------------------------------------


def api_run(variant: str, index: int, args, fixture_path: Path, workdir: Path, collector) -> dict:
    from loadtests import run_catalog_load as catalog

    env = {**tracing_env(variant, collector), "LMS_RESPONSE_CACHE": "false"}
    name = f"api-{index}-{variant}"
    server = catalog.Server(
        name, [sys.executable, "-m", "lyceum.cli", "serve"], env, workdir / f"{name}.log"
    )
    try:
        server.wait_ready()
        load = argparse.Namespace(users=args.users, duration=args.duration, wait_min=0, wait_max=0)
        result = catalog.run_locust(server, name, "saturate", load, fixture_path, workdir)
    finally:
        server.stop()
    return {"rps": result["all"]["rps"], "requests": result["all"]["requests"],
            "failures": result["all"]["failures"], "p95_ms": result["all"]["p95_ms"],
            "server_cpu_ms_per_request": result["server_cpu_ms_per_request"]}  # fmt: skip


# jobs ---------------------------------------------------------------------------------------


def jobs_run(variant: str, args, collector: Collector) -> dict:
    """The jobs burst in a child process: tracing is process-wide once installed."""
    command = [sys.executable, "-m", "loadtests.bench_observability", "--jobs-child"]
    command += ["--n", str(args.n), "--concurrency", str(args.concurrency)]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=tracing_env(variant, collector),
        capture_output=True,
        text=True,
        timeout=args.timeout,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"jobs run ({variant}) failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process in a process group (a worker and its pool
    children), with that of children they already reaped (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[2]) == pgid:
            total += sum(int(value) for value in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def jobs_child(args) -> int:
    """One jobs burst on a fresh worker, with tracing as the environment says."""
    from loadtests.bench_jobs import Bench, Deadline
    from lms.config import get_settings
    from lms.observability.tracing import flush, init_tracing
    from tests.support import start_worker

    settings = get_settings()
    traced = init_tracing(settings, "api")  # before any engine: SQL spans too
    bench = Bench(argparse.Namespace(n=args.n), Deadline(args.timeout))
    bench.purge_default_queue()
    bench.bus.start()
    if not bench.bus.ready.wait(15):
        raise RuntimeError("event bus listener did not start")
    worker = start_worker("default", concurrency=args.concurrency)
    try:
        bench.jobs_burst(max(20, args.n // 20), 1)  # warm-up: connections, pool children

        def cpu() -> float:
            return time.process_time() + group_cpu_seconds(worker.popen.pid)

        before = cpu()
        figures = bench.jobs_burst(args.n, 1)
        cpu_ms_per_job = (cpu() - before) * 1000 / args.n
    finally:
        worker.stop()
        bench.bus.stop()
        flush()
    print(json.dumps({"traced": traced, "per_s": figures["per_s"],
                      "start_p50_ms": figures["start_p50_ms"],
                      "cpu_ms_per_job": round(cpu_ms_per_job, 3)}))  # fmt: skip
    return 0


# report -------------------------------------------------------------------------------------


def cost(runs: list[tuple[str, float]]) -> tuple[float, list[float], float]:
    """(median of the rounds' costs, each round's 1 - on / mean of the offs beside it,
    relative spread of all offs); `runs` alternate off, on, off, …, off."""
    values = [value for _, value in runs]
    rounds = [
        round(1 - values[i] / ((values[i - 1] + values[i + 1]) / 2), 3)
        for i in range(1, len(values) - 1, 2)
    ]
    offs = values[0::2]
    spread = (max(offs) - min(offs)) / (sum(offs) / len(offs))
    return round(statistics.median(rounds), 3), rounds, round(spread, 3)


def extra_cpu(values: list[float | None]) -> float | None:
    """Median over the rounds of on / mean of the offs beside it - 1 (CPU per unit of
    work: more is worse); `values` alternate off, on, off, …, off; a run that served
    nothing (None) leaves its round out."""
    rounds = [
        values[i] / ((values[i - 1] + values[i + 1]) / 2) - 1
        for i in range(1, len(values) - 1, 2)
        if None not in values[i - 1 : i + 2]
    ]
    return round(statistics.median(rounds), 3) if rounds else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per api run")
    parser.add_argument("--users", type=int, default=30, help="locust users (no think time)")
    parser.add_argument("--courses", type=int, default=300, help="published courses to seed")
    parser.add_argument("--n", type=int, default=1000, help="jobs per jobs run")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per child run")
    parser.add_argument("--rounds", type=int, default=2, help="on runs, each between two off runs")
    parser.add_argument("--jobs-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jobs_child:
        return jobs_child(args)

    started, load_before = time.monotonic(), os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="lyceum-bench-observability-"))
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    use_environment(workdir / "var", broker_url, BENCH_DB)
    collector = Collector()
    api: list[tuple[str, dict]] = []
    jobs: list[tuple[str, dict]] = []
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        from loadtests.run_catalog_load import seed
        from lms.config import get_settings
        from lms.migrate import upgrade

        upgrade(get_settings())
        fixture_path = workdir / "fixture.json"
        fixture_path.write_text(json.dumps(seed(args.courses)))
        print(f"observability bench: {args.courses} courses; collector {collector.endpoint}")
        variants = order(max(1, args.rounds))
        for index, variant in enumerate(variants):
            api.append((variant, api_run(variant, index, args, fixture_path, workdir, collector)))
            print(f"observability bench: api tracing {variant}: {api[-1][1]}", flush=True)
        for variant in variants:
            jobs.append((variant, jobs_run(variant, args, collector)))
            print(f"observability bench: jobs tracing {variant}: {jobs[-1][1]}", flush=True)
    finally:
        collector.close()
        release(BENCH_DB, BENCH_VHOST, own_vhost)
        shutil.rmtree(workdir, ignore_errors=True)
    api_cost, api_rounds, api_spread = cost([(v, r["rps"]) for v, r in api])
    jobs_cost, jobs_rounds, jobs_spread = cost([(v, r["per_s"]) for v, r in jobs])
    api_cpu = extra_cpu([r["server_cpu_ms_per_request"] for _, r in api])
    jobs_cpu = extra_cpu([r["cpu_ms_per_job"] for _, r in jobs])
    load_after = os.getloadavg()[0]
    print(
        f"load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} "
        f"CPUs; run took {time.monotonic() - started:.0f} s; collector received "
        f"{collector.counts['requests']} batches ({collector.counts['bytes']} bytes)"
    )
    summary = {
        "bench": "observability",
        "tracing_api_cost": api_cost,
        "tracing_jobs_cost": jobs_cost,
        "tracing_api_cpu_cost": api_cpu,
        "tracing_jobs_cpu_cost": jobs_cpu,
        "api_cost_rounds": api_rounds,
        "jobs_cost_rounds": jobs_rounds,
        "api_off_spread": api_spread,
        "jobs_off_spread": jobs_spread,
        "api_rps": [round(r["rps"], 1) for _, r in api],
        "jobs_per_s": [round(r["per_s"], 1) for _, r in jobs],
        "api_cpu_ms_per_request": [r["server_cpu_ms_per_request"] for _, r in api],
        "jobs_cpu_ms_per_job": [r["cpu_ms_per_job"] for _, r in jobs],
        "order": variants,
        "rounds": len(variants) // 2,
        "span_batches": collector.counts["requests"],
        "users": args.users,
        "duration_s": args.duration,
        "n": args.n,
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(load_after, 2),
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
