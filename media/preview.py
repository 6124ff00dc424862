"""Short animated preview for hover-to-play cards in a course catalog.

Format: a silent H.264 MP4 (yuv420p, ``+faststart``), not animated WebP. An MP4 in a
``<video muted autoplay loop playsinline>`` is 5-10x smaller than WebP/GIF at the same
quality, decodes in hardware on every browser and phone, and can be probed and validated
like any other video. (The Debian ffmpeg also lacks an animated-WebP encoder.)

Content: for a video longer than the preview, ``clips`` short excerpts spread evenly across
it (skipping the first and last 5%, usually titles and credits) are joined, so the preview
shows the whole lesson rather than its intro. Each excerpt is read with an input seek, so
even a long lecture is decoded only where it is sampled.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TRANSCODE_FAILED
from .probe import ProbeResult, probe
from .runner import FFMPEG, FFMPEG_BASE_ARGS, run_tool

MAX_PREVIEW_SECONDS = 10.0
MAX_PREVIEW_WIDTH = 640
PREVIEW_TIMEOUT = 300.0


def animated_preview(
    src: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    duration: float = 6.0,
    clips: int = 3,
    max_width: int = MAX_PREVIEW_WIDTH,
    fps: int = 24,
    source: ProbeResult | None = None,
) -> Path:
    """Write a silent MP4 of at most ``duration`` (<= 10) seconds and ``max_width`` px.

    ``src`` may be a transcoded rendition at least ``max_width`` wide rather than the
    original (far less to decode); ``source`` is then the original's probe, whose duration
    places the excerpts (default: ``probe(src)``).
    """
    source = source or probe(src)
    total = min(max(duration, 0.5), MAX_PREVIEW_SECONDS)
    max_width = min(max_width, MAX_PREVIEW_WIDTH)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)

    if source.duration <= total or clips <= 1:
        # Short video: the start is the preview. (One clip from the start as well.)
        starts, clip_len = [0.0], min(total, source.duration)
    else:
        clip_len = total / clips
        lead, usable = source.duration * 0.05, source.duration * 0.9 - clip_len
        starts = [lead + usable * i / (clips - 1) for i in range(clips)]

    inputs: list[str] = []
    for start in starts:
        inputs += ["-ss", f"{start:.3f}", "-t", f"{clip_len:.3f}", "-i", str(src)]
    # Same source, same geometry: each excerpt is normalised, then concatenated.
    chains = [
        f"[{i}:v:0]fps={fps},scale='min({max_width},iw)':-2,setsar=1,format=yuv420p[v{i}]"
        for i in range(len(starts))
    ]
    joined = "".join(f"[v{i}]" for i in range(len(starts)))
    graph = ";".join(chains) + f";{joined}concat=n={len(starts)}:v=1:a=0[out]"
    run_tool(
        [
            FFMPEG,
            *FFMPEG_BASE_ARGS,
            "-y",
            *inputs,
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-profile:v",
            "main",
            "-t",
            f"{total:.3f}",
            "-movflags",
            "+faststart",
            "-map_metadata",
            "-1",
            str(out),
        ],
        timeout=PREVIEW_TIMEOUT,
        error_code=TRANSCODE_FAILED,
        what=f"making a preview of {Path(src).name}",
    )
    return out
