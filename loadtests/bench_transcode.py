"""Video ingest against plain ffmpeg: the whole pipeline, the one-command limit, naive encodes.

    .venv/bin/python -m loadtests.bench_transcode [--seconds 30] [--timeout 1500] [--no-nominal]

Generates a 30-second 1080p30 clip (ffmpeg testsrc2 + a sine tone, H.264/AAC in MP4) in a
temporary folder, then measures on this machine, in one run:

(a) the whole pipeline through a real worker on the `media` queue (validate → ladder in
    HLS + DASH → images → finalize), driven the way a front end does: an educator's
    `generateUploadUrl` on a lesson, a PUT of the bytes to the signed URL (local storage,
    through `lms serve`), `completeUpload`; the clock runs from `completeUpload` to the
    pipeline job's SUCCEEDED event on the bus (the asset is READY in that transaction).
(b) the single hand-written ffmpeg command for the same ladder: `media.build_command`, one
    decode `split` into every rung, CMAF segments with both the MPD and the HLS playlists
    (the practical limit: the pipeline cannot do the ladder with less work).
(c) what a straightforward pipeline does: one ffmpeg run per rung and per format (an HLS
    run and a DASH run for every rung), each decoding the source again, with the same
    encoder settings (preset, bitrates, GOP) and the audio in every output.

Ladder: the pipeline plans its own (`media.plan_ladder` with `DEFAULT_LADDER`; nothing lets
a client or a setting pass rungs), which for 1080p is 1080/720/480/360. (b) and (c) use that
same ladder, so a/b and c/a compare equal work. The issue's nominal 1080/720/360 ladder is
also measured for (b) and (c) (skip with --no-nominal) and reported beside, never mixed into
the ratios. Every encode uses `settings.media_preset` and `settings.media_segment_seconds`.

Runs on the services the tests use (PostgreSQL on 127.0.0.1:5432, RabbitMQ on
127.0.0.1:5672; override with LMS_TEST_PG_ADMIN_URL / LMS_TEST_BROKER_URL) with its own
database and, when `rabbitmqctl` can, its own vhost. The API and the worker are stopped once
(a) is measured, so (b) and (c) have the machine to themselves. Everything is removed at
the end (worker, API, database, vhost, temporary files), also on a timeout. Nothing is
asserted; the last line of output is one JSON object with every figure.

Wall time is the figure asked for, but on a shared machine it moves with everyone else's
load; CPU time (user + system of ffmpeg, and of the worker with every process it waited for)
is printed beside it and moves much less: compare both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_transcode.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import admin_sql, isolated_broker_url, release, use_environment  # noqa: E402

BENCH_DB = f"lyceum_bench_transcode_{os.getpid()}"
BENCH_VHOST = f"lyceum_bench_transcode_{os.getpid()}"
NOMINAL_RUNGS = ("1080p", "720p", "360p")
TARGET_A_OVER_B = 1.25
TARGET_C_OVER_A = 2.0
FFMPEG = ("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error")


class BenchAborted(Exception):
    """The run cannot go on (timeout, failed step, foreign consumers); everything is cleaned up."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self, what: str) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise BenchAborted(f"timed out before {what}")
        return left


# environment (as loadtests/bench_jobs.py) ---------------------------------------------------


# the clip and plain ffmpeg runs -------------------------------------------------------------


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def session_cpu(session_id: int) -> float:
    """CPU seconds of every live process in a session, with their finished children (the
    worker and its pool process, with the ffmpeg/ffprobe runs they waited for)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == session_id:  # field 6 (session); utime..cstime are fields 14-17
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


def ffmpeg(args: Sequence[str], deadline: Deadline, what: str) -> tuple[float, float]:
    """Run ffmpeg to completion; its wall time and CPU time in seconds."""
    cpu = children_cpu()
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [*FFMPEG, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=deadline.left(what),
        )
    except subprocess.TimeoutExpired:
        raise BenchAborted(f"timed out during {what}") from None
    if proc.returncode != 0:
        raise BenchAborted(f"{what} failed: {proc.stderr.strip()[-1500:]}")
    return time.perf_counter() - started, children_cpu() - cpu


def generate_clip(path: Path, seconds: float, deadline: Deadline) -> float:
    """A camera-like upload: 1080p30 H.264 (High, CRF 18) with 48 kHz stereo AAC."""
    return ffmpeg(
        [
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1920x1080:rate=30:duration={seconds:g}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds:g}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            str(path),
        ],
        deadline,
        "generating the clip",
    )[0]


def one_command(
    src: Path, out: Path, rungs, source, settings, deadline: Deadline
) -> tuple[float, float]:
    """(b): the pipeline's own one-decode split command, run bare."""
    from media.transcode import MASTER_NAME, MPD_NAME, build_command

    out.mkdir(parents=True)
    args = build_command(
        src,
        out,
        rungs,
        source,
        segment_seconds=settings.media_segment_seconds,
        preset=settings.media_preset,
    )
    seconds, cpu = ffmpeg(args, deadline, "the one-command ladder")
    playlists = sorted(out.glob("media_*.m3u8"))
    expected = len(rungs) + (1 if source.has_audio else 0)
    if (
        not (out / MPD_NAME).is_file()
        or not (out / MASTER_NAME).is_file()
        or len(playlists) != expected
    ):
        raise BenchAborted(
            f"the one-command ladder wrote {len(playlists)} playlists, expected {expected}"
        )
    return seconds, cpu


def separate_commands(
    src: Path, out: Path, rungs, source, settings, deadline: Deadline
) -> list[dict]:
    """(c): for every rung an HLS run and a DASH run, each decoding the source itself."""
    segment = settings.media_segment_seconds
    fps = source.fps if 0 < source.fps <= 120 else 30.0
    gop = max(1, round(fps * segment))
    runs: list[dict] = []
    for rung in rungs:
        encode = [
            "-y",
            "-i",
            str(src),
            "-map",
            "0:v:0",
            "-vf",
            f"format=yuv420p,scale={rung.width}:{rung.height},setdar={source.width}/{source.height}",
            "-c:v",
            "libx264",
            "-preset",
            settings.media_preset,
            "-b:v",
            str(rung.bitrate),
            "-maxrate",
            str(rung.maxrate),
            "-bufsize",
            str(rung.bufsize),
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-flags",
            "+cgop",
            "-force_key_frames",
            f"expr:gte(t,n_forced*{segment:g})",
        ]
        if source.has_audio:
            encode += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128000", "-ar", "48000"]
        encode += ["-map_metadata", "-1"]
        hls, dash = out / f"{rung.name}-hls", out / f"{rung.name}-dash"
        hls.mkdir(parents=True)
        dash.mkdir(parents=True)
        formats = {
            "hls": (
                hls / "index.m3u8",
                [
                    "-f",
                    "hls",
                    "-hls_time",
                    f"{segment:g}",
                    "-hls_playlist_type",
                    "vod",
                    "-hls_segment_type",
                    "fmp4",
                    "-hls_segment_filename",
                    str(hls / "seg-%05d.m4s"),
                ],
            ),
            "dash": (
                dash / "manifest.mpd",
                [
                    "-f",
                    "dash",
                    "-seg_duration",
                    f"{segment:g}",
                    "-use_template",
                    "1",
                    "-use_timeline",
                    "0",
                ],
            ),
        }
        for fmt, (target, muxer) in formats.items():
            seconds, cpu = ffmpeg([*encode, *muxer, str(target)], deadline, f"{rung.name} {fmt}")
            if not target.is_file():
                raise BenchAborted(f"{rung.name} {fmt} wrote no {target.name}")
            runs.append(
                {
                    "rung": rung.name,
                    "format": fmt,
                    "seconds": round(seconds, 2),
                    "cpu": round(cpu, 2),
                }
            )
            print(
                f"bench:   {rung.name:>6} {fmt:<4} {seconds:7.2f} s wall {cpu:7.2f} s CPU",
                flush=True,
            )
    return runs


# the pipeline ------------------------------------------------------------------------------


class Bus:
    """Every job and content event from the bus, with its arrival time; `wait` blocks on one."""

    def __init__(self, settings) -> None:
        from lms.events.bus import EventListener

        self.events: list[tuple[float, str, dict]] = []
        self._changed = threading.Condition()
        self.listener = EventListener(self._on_event, settings)

    def _on_event(self, topic: str, data: dict) -> None:
        with self._changed:
            self.events.append((time.perf_counter(), topic, data))
            self._changed.notify_all()

    def start(self) -> Bus:
        self.listener.start()
        if not self.listener.ready.wait(15):
            raise BenchAborted("event bus listener did not start")
        return self

    def stop(self) -> None:
        if self.listener._thread.is_alive():
            self.listener.stop()

    def wait(
        self, predicate: Callable[[str, dict], bool], deadline: Deadline, what: str
    ) -> tuple[float, dict]:
        def found():
            return next(
                ((at, data) for at, topic, data in self.events if predicate(topic, data)), None
            )

        with self._changed:
            self._changed.wait_for(lambda: found() is not None, deadline.left(what))
            event = found()
        if event is None:
            raise BenchAborted(f"timed out during {what}")
        return event


def purge_media_queue(settings) -> int:
    """An empty `media` queue with no other consumer (only possible on a shared vhost)."""
    from lms.jobs.broker import publisher

    app = publisher(settings)  # declares the durable queues
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        consumers = channel.queue_declare("media", passive=True).consumer_count
        if consumers:
            raise BenchAborted(
                f"{consumers} foreign consumer(s) on queue 'media' would take our work"
            )
        return app.amqp.queues["media"](channel).purge() or 0


def pipeline(clip: Path, api, bus: Bus, worker, settings, deadline: Deadline) -> dict:
    """(a): upload as a front end does, complete, await the pipeline's SUCCEEDED event."""
    from sqlalchemy import select

    from lms.content.models import AssetStatus, VideoAsset
    from lms.db import session_scope
    from lms.jobs.models import Job
    from lms.jobs.service import JOB_TOPIC
    from lms.users.models import Role
    from tests.content.conftest import COMPLETE, UPLOAD, make_course, put
    from tests.support import create_user

    educator, token = create_user(Role.EDUCATOR)
    _course_id, lesson_id = make_course(educator.id)
    ticket = api.data(
        UPLOAD,
        {
            "input": {
                "lessonId": str(lesson_id),
                "fileName": clip.name,
                "contentType": "video/mp4",
                "sizeBytes": clip.stat().st_size,
            }
        },
        token,
    )["generateUploadUrl"]
    began = time.perf_counter()
    put(ticket, clip.read_bytes())
    uploaded = time.perf_counter()
    worker_session = os.getsid(worker.popen.pid)
    cpu = session_cpu(worker_session)
    asset = api.data(COMPLETE, {"key": ticket["fileKey"]}, token)["completeUpload"]["videoAsset"]
    pipeline_id = asset["processingJobId"]
    print(
        f"bench: uploaded {clip.stat().st_size / 1e6:.1f} MB in {uploaded - began:.2f} s; "
        f"pipeline {pipeline_id} started",
        flush=True,
    )
    at, event = bus.wait(
        lambda topic, data: (
            topic == JOB_TOPIC
            and data["jobId"] == pipeline_id
            and data["status"] in ("SUCCEEDED", "FAILED", "CANCELLED")
        ),
        deadline,
        "the pipeline",
    )
    seconds = at - uploaded
    cpu = (
        session_cpu(worker_session) - cpu
    )  # the worker's share; the API's few requests are not in it
    if event["status"] != "SUCCEEDED":
        raise BenchAborted(
            f"the pipeline ended {event['status']}: {event.get('errorCode')} {event.get('message')}"
        )

    with session_scope(settings) as session:
        video = session.get(VideoAsset, uuid.UUID(asset["id"]))
        if video is None or video.status != AssetStatus.READY:
            raise BenchAborted(
                f"the asset is {getattr(video, 'status', 'gone')} after the pipeline succeeded"
            )
        renditions = [r["name"] for r in video.renditions or []]
        parent = session.get(Job, uuid.UUID(pipeline_id))
        steps = []
        previous_end = parent.started_at
        for job in session.scalars(
            select(Job).where(Job.parent_id == parent.id).order_by(Job.created_at)
        ):
            steps.append(
                {
                    "step": job.kind.removeprefix("media."),
                    "seconds": round((job.finished_at - job.started_at).total_seconds(), 2),
                    "wait": round(
                        (job.started_at - previous_end).total_seconds(), 3
                    ),  # queued → started
                }
            )
            previous_end = job.finished_at
        start_wait = (
            parent.started_at - parent.created_at
        ).total_seconds()  # enqueue → ingest task
    return {
        "seconds": seconds,
        "cpu": cpu,
        "upload_seconds": uploaded - began,
        "renditions": renditions,
        "steps": steps,
        "queue_waits": start_wait + sum(step["wait"] for step in steps),
    }


# the run -----------------------------------------------------------------------------------


def rung_names(rungs) -> list[str]:
    return [f"{r.name} {r.width}x{r.height} {r.bitrate // 1000}k" for r in rungs]


def run(args: argparse.Namespace) -> dict:
    deadline = Deadline(args.timeout)
    scratch = Path(tempfile.mkdtemp(prefix="lyceum-bench-transcode-"))
    var_dir, outputs = scratch / "var", scratch / "out"
    broker_url, own_vhost = isolated_broker_url(BENCH_VHOST)
    if not own_vhost:
        print(
            f"bench: no vhost of our own (rabbitmqctl); sharing {broker_url.split('@')[-1]}",
            file=sys.stderr,
        )
    from tests.support import free_port

    port = free_port()
    # signed upload URLs point at our own API
    use_environment(var_dir, broker_url, BENCH_DB, LMS_PUBLIC_URL=f"http://127.0.0.1:{port}")
    worker = api_process = api = bus = None
    try:
        clip = scratch / "lecture-1080p30.mp4"
        made = generate_clip(clip, args.seconds, deadline)
        print(
            f"bench: generated {clip.name} ({args.seconds:g} s 1080p30 + AAC) in {made:.1f} s",
            flush=True,
        )

        admin_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{BENCH_DB}"')
        import media
        from lms.config import get_settings
        from lms.migrate import upgrade
        from tests.support import GraphQLClient, Process, start_worker

        settings = get_settings()
        upgrade(settings)
        source = media.probe(clip)
        ladder = media.plan_ladder(source.width, source.height)  # exactly what the pipeline plans
        nominal = media.plan_ladder(
            source.width,
            source.height,
            rungs=[s for s in media.DEFAULT_LADDER if s.name in NOMINAL_RUNGS],
        )
        print(
            f"bench: preset {settings.media_preset}, "
            f"{settings.media_segment_seconds:g} s segments; "
            f"pipeline ladder: {', '.join(rung_names(ladder))}",
            flush=True,
        )

        # (a) ---------------------------------------------------------------------------
        purged = purge_media_queue(settings)
        bus = Bus(settings).start()
        api_process = Process([sys.executable, "-m", "lyceum.cli", "serve", "--port", str(port)])
        try:
            api_process.wait_for("Running on")
            worker = start_worker("media", concurrency=1)
        except AssertionError as error:  # "Running on" / " ready." never came
            raise BenchAborted(f"a process did not start: {str(error)[-2000:]}") from None
        api = GraphQLClient(f"http://127.0.0.1:{port}")
        print(
            f"bench: database {BENCH_DB}, broker {broker_url.split('@')[-1]}, purged {purged} "
            f"message(s) from 'media'; API on :{port}; worker ready (lms worker -Q media -c 1)",
            flush=True,
        )
        a = pipeline(clip, api, bus, worker, settings, deadline)
        print(
            f"bench: (a) pipeline {a['seconds']:.2f} s wall, {a['cpu']:.2f} s worker CPU "
            f"→ READY with {', '.join(a['renditions'])}",
            flush=True,
        )
        # (b) and (c) get the machine to themselves.
        api.close()
        api = None
        worker.stop()
        api_process.stop()
        bus.stop()

        # (b), (c) on the pipeline's ladder, then on the nominal one ---------------------
        results: dict = {
            "a": a,
            "ladder": rung_names(ladder),
            "source": {
                "width": source.width,
                "height": source.height,
                "fps": source.fps,
                "duration": source.duration,
                "bytes": clip.stat().st_size,
                "has_audio": source.has_audio,
            },
        }
        ladders = {"pipeline": ladder}
        if not args.no_nominal and [r.name for r in nominal] != [r.name for r in ladder]:
            ladders["nominal"] = nominal
        for label, rungs in ladders.items():
            b, b_cpu = one_command(clip, outputs / label / "one", rungs, source, settings, deadline)
            print(
                f"bench: (b) one command, {label} ladder ({len(rungs)} rungs): {b:.2f} s wall, "
                f"{b_cpu:.2f} s CPU",
                flush=True,
            )
            print(f"bench: (c) separate runs, {label} ladder:", flush=True)
            c_runs = separate_commands(
                clip, outputs / label / "separate", rungs, source, settings, deadline
            )
            c, c_cpu = sum(run["seconds"] for run in c_runs), sum(run["cpu"] for run in c_runs)
            print(f"bench: (c) {len(c_runs)} runs: {c:.2f} s wall, {c_cpu:.2f} s CPU", flush=True)
            results[label] = {
                "rungs": rung_names(rungs),
                "b": b,
                "c": c,
                "b_cpu": b_cpu,
                "c_cpu": c_cpu,
                "c_runs": c_runs,
            }
            shutil.rmtree(outputs / label, ignore_errors=True)
        results["settings"] = {
            "preset": settings.media_preset,
            "segment_seconds": settings.media_segment_seconds,
        }
        return results
    finally:
        cleanup(worker, api_process, api, bus, scratch, own_vhost)


def cleanup(worker, api_process, api, bus, scratch: Path, own_vhost: bool) -> None:
    """Stop the worker, API and listener, drop the database and the vhost, remove the files."""
    for step in (
        lambda: api and api.close(),
        lambda: worker and worker.stop(),
        lambda: api_process and api_process.stop(),
        lambda: bus and bus.stop(),
    ):
        try:
            step()
        except Exception as error:  # noqa: BLE001 - go on cleaning up
            print(f"bench: cleanup: {error}", file=sys.stderr)
    release(BENCH_DB, BENCH_VHOST, own_vhost, scratch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=30, help="clip length in seconds (default 30)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1500, help="abort (cleaning up) after this many seconds"
    )
    parser.add_argument(
        "--no-nominal",
        action="store_true",
        help="skip (b) and (c) on the nominal 1080/720/360 ladder",
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        results = run(args)
    except BenchAborted as error:
        print(f"bench: aborted: {error}", file=sys.stderr)
        return 1
    a, matched = results["a"], results["pipeline"]
    a_s, b_s, c_s = a["seconds"], matched["b"], matched["c"]

    print()
    print(
        "pipeline steps (worker -c 1): "
        + "; ".join(
            f"{s['step']} {s['seconds']:.2f} s"
            + (f" (+{s['wait']:.3f} s queued)" if s["wait"] else "")
            for s in a["steps"]
        )
        + f"; queue waits {a['queue_waits']:.3f} s in all"
    )
    header = f"{'measurement':<62} {'ladder':<12} {'runs':>4} {'wall s':>8} {'CPU s':>8}"
    print(header)
    print("-" * len(header))
    a_cpu, b_cpu, c_cpu = a["cpu"], matched["b_cpu"], matched["c_cpu"]
    rows = [
        ("(a) pipeline via worker: completeUpload → READY event", "pipeline", "-", a_s, a_cpu),
        ("(b) one ffmpeg command (build_command, split)", "pipeline", 1, b_s, b_cpu),
        (
            "(c) separate ffmpeg runs per rung and format",
            "pipeline",
            len(matched["c_runs"]),
            c_s,
            c_cpu,
        ),
    ]
    if "nominal" in results:
        nominal = results["nominal"]
        rows += [
            (
                "(b) one ffmpeg command (build_command, split)",
                "1080/720/360",
                1,
                nominal["b"],
                nominal["b_cpu"],
            ),
            (
                "(c) separate ffmpeg runs per rung and format",
                "1080/720/360",
                len(nominal["c_runs"]),
                nominal["c"],
                nominal["c_cpu"],
            ),
        ]
    for label, ladder, runs, seconds, cpu in rows:
        print(f"{label:<62} {ladder:<12} {runs:>4} {seconds:>8.2f} {cpu:>8.2f}")
    print()
    print(f"pipeline ladder: {'; '.join(results['ladder'])}")
    print(
        f"a/b = {a_s / b_s:.3f} (target ≤ {TARGET_A_OVER_B}); "
        f"c/a = {c_s / a_s:.3f} (target ≥ {TARGET_C_OVER_A}); "
        f"c/b = {c_s / b_s:.3f}"
    )
    print(
        "on CPU time (less sensitive to other load): "
        f"a/b = {a_cpu / b_cpu:.3f}; c/a = {c_cpu / a_cpu:.3f}"
    )
    if "nominal" in results:
        nominal = results["nominal"]
        print(
            f"nominal 1080/720/360: c/b = {nominal['c'] / nominal['b']:.3f} wall, "
            f"{nominal['c_cpu'] / nominal['b_cpu']:.3f} CPU"
        )
    print(
        f"upload PUT {a['upload_seconds']:.2f} s (not in a); "
        f"load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs; "
        f"run took {time.monotonic() - started:.0f} s"
    )

    def r(value: float, digits: int = 2) -> float:
        return round(value, digits)

    summary = {
        "clip": {**results["source"], "duration": r(results["source"]["duration"])},
        "preset": results["settings"]["preset"],
        "segment_seconds": results["settings"]["segment_seconds"],
        "ladder": [name.split()[0] for name in results["ladder"]],
        "a_pipeline_s": r(a_s),
        "a_steps_s": {s["step"]: s["seconds"] for s in a["steps"]},
        "a_queue_waits_s": r(a["queue_waits"], 3),
        "upload_s": r(a["upload_seconds"]),
        "b_one_command_s": r(b_s),
        "c_separate_s": r(c_s),
        "c_runs": len(matched["c_runs"]),
        "a_over_b": r(a_s / b_s, 3),
        "c_over_a": r(c_s / a_s, 3),
        "c_over_b": r(c_s / b_s, 3),
        "a_cpu_s": r(a_cpu),
        "b_cpu_s": r(b_cpu),
        "c_cpu_s": r(c_cpu),
        "a_over_b_cpu": r(a_cpu / b_cpu, 3),
        "c_over_a_cpu": r(c_cpu / a_cpu, 3),
        "a_over_b_ok": a_s / b_s <= TARGET_A_OVER_B,
        "c_over_a_ok": c_s / a_s >= TARGET_C_OVER_A,
        "cpus": os.cpu_count(),
        "load_avg_before": r(load_before),
        "seconds": r(time.monotonic() - started, 1),
    }
    if "nominal" in results:
        nominal = results["nominal"]
        summary["nominal"] = {
            "ladder": [name.split()[0] for name in nominal["rungs"]],
            "b_one_command_s": r(nominal["b"]),
            "c_separate_s": r(nominal["c"]),
            "c_runs": len(nominal["c_runs"]),
            "c_over_b": r(nominal["c"] / nominal["b"], 3),
            "b_cpu_s": r(nominal["b_cpu"]),
            "c_cpu_s": r(nominal["c_cpu"]),
            "c_over_b_cpu": r(nominal["c_cpu"] / nominal["b_cpu"], 3),
        }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
