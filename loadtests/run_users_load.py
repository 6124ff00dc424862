"""A short, bounded headless locust run of the Users scenario; prints one JSON line.

    python loadtests/run_users_load.py                      # starts `lms serve` itself
    python loadtests/run_users_load.py --url http://127.0.0.1:8000 --duration 20

Without --url an API is started on a free loopback port, on the database in the
environment (LMS_DATABASE_URL) or, if none, a throw-away SQLite database, with the per-IP
rate limits lifted (every simulated user comes from 127.0.0.1). Against --url the limits
of that server apply: a run from one address will meet RATE_LIMITED on register/login.

Per operation: requests, failures, requests/s and p50/p95/p99 latency (ms). `login` is
reported apart: argon2id is deliberately slow, so its figures measure the hash cost.
Only loopback targets are accepted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/run_users_load.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import wait_until_healthy  # noqa: E402

SCENARIO = Path(__file__).resolve().parent / "locust_users.py"
LIFTED = {
    "LMS_RATE_LOGIN_IP": "100000000/60",
    "LMS_RATE_REGISTER_IP": "100000000/60",
    "LMS_RATE_RESET_IP": "100000000/60",
    "LMS_RATE_REFRESH_IP": "100000000/60",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 60) -> None:
    if not wait_until_healthy(url, timeout):
        raise SystemExit(f"the API at {url} did not come up within {timeout} s")


def start_api(workdir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, **LIFTED, "LMS_ENV": os.environ.get("LMS_ENV", "development")}
    if not env.get("LMS_DATABASE_URL"):
        env["LMS_VAR_DIR"] = str(workdir / "var")
    lms = [sys.executable, "-m", "lyceum.cli"]
    subprocess.run([*lms, "migrate"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = open(workdir / "api.log", "w")
    process = subprocess.Popen(
        [*lms, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    return process, url


def percentiles(row: dict) -> dict:
    def number(key: str) -> float | None:
        value = row.get(key, "N/A")
        return None if value in ("N/A", "") else float(value)

    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": round(float(row["Requests/s"]), 1),
        "p50_ms": number("50%"),
        "p95_ms": number("95%"),
        "p99_ms": number("99%"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running API (loopback only); default: start one")
    parser.add_argument("--duration", type=int, default=20, help="seconds (at most 120)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=10)
    args = parser.parse_args(argv)
    duration = max(5, min(args.duration, 120))
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("only loopback targets are allowed")

    with tempfile.TemporaryDirectory(prefix="lyceum-load-") as tmp:
        workdir = Path(tmp)
        api, url = (None, args.url.rstrip("/")) if args.url else start_api(workdir)
        try:
            prefix = workdir / "stats"
            locust = [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(SCENARIO),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.spawn_rate),
                "-t",
                f"{duration}s",
                "--host",
                url,
                "--csv",
                str(prefix),
                "--only-summary",
                "--stop-timeout",
                "5",
                "--loglevel",
                "WARNING",
            ]
            subprocess.run(
                locust,
                cwd=ROOT,
                timeout=duration + 60,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with open(f"{prefix}_stats.csv", newline="") as handle:
                rows = {row["Name"]: row for row in csv.DictReader(handle)}
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=30)

    operations = {
        name: percentiles(row) for name, row in rows.items() if name not in ("Aggregated", "login")
    }
    summary = {
        "scenario": "users",
        "target": "started" if api is not None else url,
        "duration_s": duration,
        "users": args.users,
        "operations": operations,
        "login": percentiles(rows["login"]) if "login" in rows else None,
        "login_note": "argon2id is deliberately slow: login measures the hash cost, not the API",
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
