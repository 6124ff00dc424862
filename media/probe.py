"""Probe a media file with ffprobe and validate it before any expensive work.

Validation runs within seconds of an upload so an educator hears "no video stream" right
away instead of after a failed transcode. It trusts content, never the file name.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import (
    INVALID_MEDIA,
    NO_VIDEO_STREAM,
    RESOLUTION_TOO_HIGH,
    TOO_LONG,
    TOO_SHORT,
    MediaError,
)
from .runner import FFMPEG, FFMPEG_BASE_ARGS, FFPROBE, run_tool

PROBE_TIMEOUT = 30.0
DECODE_TIMEOUT = 60.0
DEFAULT_MAX_DURATION = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    path: Path
    duration: float  # seconds
    width: int  # display width: already swapped for 90/270 degree rotation
    height: int
    video_codec: str | None
    fps: float
    has_audio: bool
    audio_codec: str | None
    bit_rate: int | None  # bits per second of the whole file
    format_name: str
    audio_channels: int | None = None
    audio_sample_rate: int | None = None
    rotation: int = 0

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None


def probe(
    path: str | os.PathLike[str], *, timeout: float = PROBE_TIMEOUT, name: str | None = None
) -> ProbeResult:
    """Describe ``path`` with ffprobe; unreadable or non-media content is ``INVALID_MEDIA``.

    ``name`` is what messages call the file (the name its owner knows, e.g. the uploaded
    file's name rather than a working copy's); ``path.name`` by default.
    """
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise MediaError(INVALID_MEDIA, f"{label}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(INVALID_MEDIA, f"{label}: file is empty")
    try:
        proc = run_tool(
            [
                FFPROBE,
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                str(path),
            ],
            timeout=timeout,
            error_code=INVALID_MEDIA,
            what=f"probing {label}",
        )
    except MediaError as exc:  # the educator gets a plain sentence; operators get the tail
        raise MediaError(
            INVALID_MEDIA, f"{label} is not a readable media file", detail=exc.detail
        ) from exc
    try:
        data = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise MediaError(INVALID_MEDIA, f"{label}: unreadable probe output") from exc
    return _parse(path, data, label)


def _parse(path: Path, data: dict[str, Any], label: str) -> ProbeResult:
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    if not fmt or not streams:
        raise MediaError(INVALID_MEDIA, f"{label}: not a media file")
    # Cover art in audio files shows up as a one-frame "video" stream; it is not a video.
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)

    duration = _number(fmt.get("duration")) or _number((video or audio or {}).get("duration"))
    width = int((video or {}).get("width") or 0)
    height = int((video or {}).get("height") or 0)
    rotation = _rotation(video) if video else 0
    if rotation in (90, 270):  # phones store portrait as rotated landscape
        width, height = height, width
    return ProbeResult(
        path=path,
        duration=float(duration or 0.0),
        width=width,
        height=height,
        video_codec=(video or {}).get("codec_name"),
        fps=_fps(video) if video else 0.0,
        has_audio=audio is not None,
        audio_codec=(audio or {}).get("codec_name"),
        bit_rate=_int(fmt.get("bit_rate")),
        format_name=str(fmt.get("format_name") or ""),
        audio_channels=_int((audio or {}).get("channels")),
        audio_sample_rate=_int((audio or {}).get("sample_rate")),
        rotation=rotation,
    )


def validate(
    media: ProbeResult | str | os.PathLike[str],
    *,
    min_duration: float = 1.0,
    max_duration: float = DEFAULT_MAX_DURATION,
    max_width: int = 4096,
    max_height: int = 2160,
    check_decode: bool = True,
    name: str | None = None,
) -> ProbeResult:
    """Check a video is usable; returns the probe result or raises ``MediaError``.

    Resolution limits are orientation-agnostic (long side vs ``max_width``, short side vs
    ``max_height``), so a portrait 2160x3840 phone video passes like a landscape one.
    Messages call the file ``name`` (see ``probe``).
    """
    result = media if isinstance(media, ProbeResult) else probe(media, name=name)
    name = name or result.path.name
    if not result.has_video:
        raise MediaError(NO_VIDEO_STREAM, f"{name} has no video stream")
    if result.width <= 0 or result.height <= 0:
        raise MediaError(INVALID_MEDIA, f"{name}: video stream has no dimensions")
    if not math.isfinite(result.duration) or result.duration <= 0:
        raise MediaError(INVALID_MEDIA, f"{name}: duration is unknown")
    if result.duration < min_duration:
        raise MediaError(
            TOO_SHORT, f"{name} lasts {result.duration:.1f} s, the minimum is {min_duration:g} s"
        )
    if result.duration > max_duration:
        raise MediaError(
            TOO_LONG, f"{name} lasts {result.duration:.0f} s, the maximum is {max_duration:g} s"
        )
    long_side, short_side = max(result.width, result.height), min(result.width, result.height)
    if long_side > max(max_width, max_height) or short_side > min(max_width, max_height):
        raise MediaError(
            RESOLUTION_TOO_HIGH,
            f"{name} is {result.width}x{result.height}, the maximum is {max_width}x{max_height}",
        )
    if check_decode:
        check_decodable(result, name=name)
    return result


def check_decodable(result: ProbeResult, *, seconds: float = 1.0, name: str | None = None) -> None:
    """Decode the first and the last second; headers alone prove little.

    A file cut short keeps a valid-looking start when its index (moov) is at the front,
    so the tail is decoded too: that is where truncation shows.
    """
    windows = [0.0]
    if result.duration > 2 * seconds:
        windows.append(max(0.0, result.duration - seconds))
    for start in windows:
        try:
            run_tool(
                [
                    FFMPEG,
                    *FFMPEG_BASE_ARGS,
                    "-xerror",
                    "-ss",
                    f"{start:.3f}",
                    "-i",
                    str(result.path),
                    "-t",
                    f"{seconds:g}",
                    "-map",
                    "0:v:0",
                    "-f",
                    "null",
                    "-",
                ],
                timeout=DECODE_TIMEOUT,
                error_code=INVALID_MEDIA,
                what=f"decoding {name or result.path.name}",
            )
        except MediaError as exc:
            raise MediaError(
                INVALID_MEDIA,
                f"{name or result.path.name} is damaged or truncated: its video cannot be decoded",
                detail=exc.detail,
            ) from exc


def _rotation(stream: dict[str, Any]) -> int:
    raw: Any = (stream.get("tags") or {}).get("rotate")
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            raw = side["rotation"]
    try:
        return int(float(raw)) % 360 if raw is not None else 0
    except (TypeError, ValueError):
        return 0


def _fps(stream: dict[str, Any]) -> float:
    # avg_frame_rate is what players experience; r_frame_rate is a guess for VFR input.
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            value = Fraction(str(stream.get(key) or "0/0"))
        except (ValueError, ZeroDivisionError):
            continue
        if value > 0:
            return float(value)
    return 0.0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
