"""Media fixtures generated with the real ffmpeg (testsrc2 + sine), kept short and small."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=120,
    )


def _av_clip(
    path: Path, *, size: str, seconds: float, audio: bool = True, faststart: bool = False
) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    if faststart:
        args += ["-movflags", "+faststart"]
    _ffmpeg(*args, str(path))
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-fixtures")


@pytest.fixture(scope="session")
def clip_360(media_dir: Path) -> Path:
    """640x360, 4 s, 25 fps, H.264 + AAC."""
    return _av_clip(media_dir / "clip_360.mp4", size="640x360", seconds=4)


@pytest.fixture(scope="session")
def clip_720(media_dir: Path) -> Path:
    """1280x720, 4 s, with audio: enough for a three-rung ladder."""
    return _av_clip(media_dir / "clip_720.mp4", size="1280x720", seconds=4)


@pytest.fixture(scope="session")
def clip_small_silent(media_dir: Path) -> Path:
    """320x180, 3 s, no audio: below the lowest rung, video only."""
    return _av_clip(media_dir / "clip_small.mp4", size="320x180", seconds=3, audio=False)


@pytest.fixture(scope="session")
def clip_black_start(media_dir: Path) -> Path:
    """2 s of black, then 2 s of test pattern: a naive first-frame poster is black."""
    path = media_dir / "black_start.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=black:size=320x180:rate=25:duration=2[b];"
        "testsrc2=size=320x180:rate=25:duration=2[t];[b][t]concat=n=2:v=1:a=0",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    return path


@pytest.fixture(scope="session")
def clip_too_short(media_dir: Path) -> Path:
    return _av_clip(media_dir / "short.mp4", size="160x90", seconds=0.4, audio=False)


@pytest.fixture(scope="session")
def zero_bytes(media_dir: Path) -> Path:
    path = media_dir / "zero.mp4"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def random_bytes(media_dir: Path) -> Path:
    path = media_dir / "random.mp4"
    path.write_bytes(os.urandom(64 * 1024))
    return path


@pytest.fixture(scope="session")
def truncated(media_dir: Path, clip_360: Path) -> Path:
    """First half of an mp4 whose moov atom is at the end: the index is missing."""
    path = media_dir / "truncated.mp4"
    data = clip_360.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def truncated_faststart(media_dir: Path) -> Path:
    """First half of a +faststart mp4: the index survives, the media data does not."""
    full = _av_clip(media_dir / "faststart.mp4", size="320x180", seconds=4, faststart=True)
    path = media_dir / "truncated_faststart.mp4"
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def audio_only(media_dir: Path) -> Path:
    path = media_dir / "audio.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", str(path))
    return path
