"""`lms up` as a process manager, and the one-line start-up errors a newcomer meets first."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess

import httpx
import pytest

from tests.support import LMS, ROOT, Process, free_port


def clean_env(**settings: str) -> dict[str, str | None]:
    """A newcomer's environment: no LMS_* settings but the ones given. PYTHONPATH: this
    checkout's code, also when run from another folder."""
    blank = {key: None for key in os.environ if key.startswith("LMS_")}
    return blank | {"PYTHONPATH": str(ROOT)} | settings


def run_lms(*args: str, env: dict[str, str | None], cwd=ROOT) -> subprocess.CompletedProcess:
    merged = {key: value for key, value in {**os.environ, **env}.items() if value is not None}
    return subprocess.run(
        [*LMS, *args], check=False, cwd=cwd, env=merged, capture_output=True, text=True, timeout=120
    )


def started_pid(process: Process, name: str, verb: str = "started") -> int:
    process.wait_for(f"lms: {name} {verb} (pid ")
    line = next(line for line in reversed(process.lines) if f"lms: {name} {verb}" in line)
    return int(re.search(r"pid (\d+)", line).group(1))


def test_a_killed_worker_is_restarted_while_the_api_keeps_answering(tmp_path):
    port = free_port()
    up = Process([*LMS, "up"], clean_env(LMS_PORT=str(port)), cwd=tmp_path)
    base_url = f"http://127.0.0.1:{port}"
    try:
        up.wait_for("lms: up — GraphQL")
        # The banner comes only once the API answers: no refused connection after it.
        assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200
        worker_pid = started_pid(up, "worker")
        up.wait_for(f"worker-{worker_pid}@")  # Celery's banner: the worker runs

        os.kill(worker_pid, signal.SIGKILL)
        up.wait_for("lms: worker exited (signal SIGKILL), restarting in 1 s")
        answer = httpx.post(f"{base_url}/graphql", json={"query": "{ __typename }"}, timeout=10)
        assert answer.json() == {"data": {"__typename": "Query"}}
        new_pid = started_pid(up, "worker", "restarted")
        assert new_pid != worker_pid
        up.wait_for(f"worker-{new_pid}@{socket.gethostname()} ready.")
        assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200

        up.popen.send_signal(signal.SIGINT)
        assert up.popen.wait(timeout=60) == 0
        up.wait_for("lms: stopped")
        with pytest.raises(ProcessLookupError):
            os.kill(new_pid, 0)
        assert "stopping" not in up.output  # a single crash never stops the stack
    finally:
        up.stop()


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to end (a pidfd turns readable then)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_children_stop_when_lms_up_itself_is_killed(tmp_path):
    port = free_port()
    up = Process([*LMS, "up"], clean_env(LMS_PORT=str(port)), cwd=tmp_path)
    try:
        up.wait_for("lms: up — GraphQL")
        children = [started_pid(up, name) for name in ("api", "worker", "beat", "monitor")]
        os.kill(up.popen.pid, signal.SIGKILL)  # no chance to stop them itself
        up.popen.wait(timeout=30)
        assert all(wait_gone(pid, timeout=60) for pid in children)
    finally:
        up.stop()


def test_a_busy_port_is_one_line_for_up_and_serve(tmp_path):
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        expected = [f"lms: port {port} is in use; set LMS_PORT or stop the other server"]
        up = run_lms("up", env=clean_env(LMS_PORT=str(port)), cwd=tmp_path)
        assert (up.returncode, up.stderr.splitlines(), up.stdout) == (2, expected, "")
        serve = run_lms("serve", "--port", str(port), env={})
        assert serve.returncode == 2
        assert serve.stderr.splitlines() == expected


def test_a_host_that_is_not_ours_is_one_line():
    serve = run_lms("serve", env={"LMS_HOST": "192.0.2.1"})  # TEST-NET-1: never local
    assert serve.returncode == 2
    expected = (
        "lms: cannot listen on 192.0.2.1: not an address of this machine; "
        "set LMS_HOST (127.0.0.1, or 0.0.0.0 for every interface)"
    )
    assert serve.stderr.splitlines() == [expected]


def test_lms_up_without_ffmpeg_runs_everything_but_the_media_queue(tmp_path):
    port = free_port()
    up = Process([*LMS, "up"], clean_env(LMS_PORT=str(port), PATH="/nonexistent"), cwd=tmp_path)
    try:
        up.wait_for("lms: up — GraphQL")
        up.wait_for(" ready.")
        assert (
            "lms: ffmpeg and ffprobe not found: the worker leaves the media queue alone"
            in up.output
        )
        assert ".> email " in up.output and ".> media " not in up.output  # Celery's queue list
    finally:
        up.stop()
    assert "configuration error" not in up.output


def test_an_unusable_var_dir_is_one_line_naming_the_variable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_lms("migrate", env={"LMS_VAR_DIR": str(blocker / "var")})
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"lms: configuration error: LMS_VAR_DIR: cannot write {blocker}/var")


def test_a_server_deployment_needs_no_var_dir(tmp_path):
    """PostgreSQL, RabbitMQ, SMTP and S3 keep nothing under LMS_VAR_DIR: a read-only image
    must still start."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    servers = {
        "LMS_VAR_DIR": str(blocker / "var"),
        "LMS_EMAIL_URL": "smtp://127.0.0.1:2525",
        "LMS_STORAGE_URL": "s3://lyceum-media",
    }
    result = run_lms("migrate", env=servers)
    assert result.returncode == 0, result.stderr


def test_beat_creates_a_missing_var_dir(tmp_path):
    var_dir = tmp_path / "not" / "yet" / "there"
    beat = Process([*LMS, "beat"], {"LMS_VAR_DIR": str(var_dir)})
    try:
        beat.wait_for("Scheduler: Sending due task")  # past opening its schedule file
        assert list(var_dir.glob("celerybeat-schedule*"))
    finally:
        beat.stop()
    assert "Traceback" not in beat.output


def test_a_media_worker_without_ffmpeg_is_one_line():
    result = run_lms("worker", "-Q", "media", env={"PATH": "/nonexistent"})
    assert result.returncode == 2
    expected = (
        "lms: the media queue needs ffmpeg and ffprobe on PATH; install ffmpeg "
        "(Debian: apt-get install ffmpeg) or leave media out of -Q"
    )
    assert result.stderr.splitlines() == [expected]


def test_the_root_warning_and_hostname_warning_are_gone(tmp_path):
    """Celery's root SecurityWarning (scripts/run runs as root) and kombu's "No hostname was
    supplied" (the filesystem broker URL) once filled an idle console."""
    worker = Process(
        [*LMS, "worker", "-Q", "default", "-c", "1"],
        clean_env(LMS_VAR_DIR=str(tmp_path / "var")),
        cwd=tmp_path,
    )
    try:
        worker.wait_for(" ready.")
    finally:
        worker.stop()
    assert "SecurityWarning" not in worker.output
    assert "No hostname" not in worker.output
