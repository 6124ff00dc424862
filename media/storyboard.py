"""Storyboard: sprite sheets of small frames plus a WebVTT thumbnail track.

Players (video.js, Vidstack, hls.js-based UIs, Shaka) show these while seeking: each cue
covers a time range and points into a sprite with a media fragment ``#xywh=x,y,w,h``.
Frames are sampled every ``interval`` seconds by one ffmpeg pass; Pillow lays them out.
Cues cover the whole duration without gaps; a long video spills over several sheets.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .errors import INVALID_MEDIA, TRANSCODE_FAILED, MediaError
from .probe import ProbeResult, probe
from .runner import FFMPEG, FFMPEG_BASE_ARGS, run_tool

STORYBOARD_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class StoryboardCue:
    start: float
    end: float
    sprite: str  # sprite file name, relative to the VTT
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Storyboard:
    vtt: Path
    sprites: list[Path]
    cues: list[StoryboardCue]
    tile_width: int
    tile_height: int


def storyboard(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    interval: float | None = None,
    tile_width: int = 160,
    columns: int = 10,
    rows: int = 10,
    stem: str = "storyboard",
    source: ProbeResult | None = None,
) -> Storyboard:
    """Write ``{stem}-N.jpg`` sprite sheets and ``{stem}.vtt`` into ``out_dir``.

    ``interval`` defaults to one frame per 1% of the video, at least every 2 s and at most
    every 10 s, so short lessons stay detailed and long ones stay small.

    ``src`` need not be the original: tiles are small, so a transcoded rendition at least
    ``tile_width`` wide gives the same sheets for a fraction of the decoding. ``source`` is
    then the original's probe, whose duration the cues cover (default: ``probe(src)``).
    """
    source = source or probe(src)
    duration = source.duration
    if duration <= 0:
        raise MediaError(INVALID_MEDIA, f"{Path(src).name}: duration is unknown")
    step = interval if interval and interval > 0 else min(10.0, max(2.0, duration / 100))
    count = max(1, math.ceil(duration / step - 1e-6))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{stem}-*.jpg"):  # a re-run replaces, never mixes with, old sheets
        old.unlink()

    with tempfile.TemporaryDirectory(dir=out, prefix=".frames-") as tmp:
        frames = _extract_frames(Path(src), Path(tmp), step=step, tile_width=tile_width)
        if not frames:
            raise MediaError(TRANSCODE_FAILED, f"{Path(src).name}: no frames could be extracted")
        # The sampler may yield one frame more or less than the cue count at the very end;
        # cues are driven by time, so reuse the last frame rather than leave a gap.
        frames = (frames + [frames[-1]] * count)[:count]
        with Image.open(frames[0]) as first:
            tile_w, tile_h = first.size
        per_sheet = columns * rows
        sprites: list[Path] = []
        cues: list[StoryboardCue] = []
        for sheet_no, first_index in enumerate(range(0, count, per_sheet)):
            batch = frames[first_index : first_index + per_sheet]
            used_rows = math.ceil(len(batch) / columns)
            used_cols = min(columns, len(batch))
            sheet = Image.new("RGB", (used_cols * tile_w, used_rows * tile_h))
            sprite = out / f"{stem}-{sheet_no}.jpg"
            for offset, frame in enumerate(batch):
                x, y = (offset % columns) * tile_w, (offset // columns) * tile_h
                with Image.open(frame) as tile:
                    # Identical sizes by construction, but a resize is cheap insurance.
                    sheet.paste(tile.convert("RGB").resize((tile_w, tile_h)), (x, y))
                index = first_index + offset
                cues.append(
                    StoryboardCue(
                        start=index * step,
                        end=duration if index == count - 1 else (index + 1) * step,
                        sprite=sprite.name,
                        x=x,
                        y=y,
                        w=tile_w,
                        h=tile_h,
                    )
                )
            sheet.save(sprite, "JPEG", quality=75, optimize=True)
            sprites.append(sprite)

    vtt = out / f"{stem}.vtt"
    vtt.write_text(render_vtt(cues))
    return Storyboard(vtt=vtt, sprites=sprites, cues=cues, tile_width=tile_w, tile_height=tile_h)


def render_vtt(cues: list[StoryboardCue], *, url_prefix: str = "") -> str:
    """WebVTT text; ``url_prefix`` is prepended to sprite names (e.g. a CDN directory)."""
    blocks = ["WEBVTT", ""]
    for cue in cues:
        blocks += [
            f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}",
            f"{url_prefix}{cue.sprite}#xywh={cue.x},{cue.y},{cue.w},{cue.h}",
            "",
        ]
    return "\n".join(blocks)


def _extract_frames(src: Path, tmp: Path, *, step: float, tile_width: int) -> list[Path]:
    # fps=1/step samples one frame per interval in a single decode pass (seeking per frame
    # would reopen the file hundreds of times for a long lecture).
    run_tool(
        [
            FFMPEG,
            *FFMPEG_BASE_ARGS,
            "-i",
            str(src),
            "-map",
            "0:v:0",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            f"fps=1/{step:g}:round=down,scale={tile_width}:-2",
            "-q:v",
            "4",
            str(tmp / "frame-%06d.jpg"),
        ],
        timeout=STORYBOARD_TIMEOUT,
        error_code=TRANSCODE_FAILED,
        what=f"sampling frames of {src.name}",
    )
    return sorted(tmp.glob("frame-*.jpg"))


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
