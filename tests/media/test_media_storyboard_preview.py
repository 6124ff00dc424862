from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from PIL import Image

from media import animated_preview, probe, storyboard


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _parse_vtt(text: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    assert text.startswith("WEBVTT")
    cues = []
    for start, end, sprite, xywh in re.findall(
        r"(\S+) --> (\S+)\n(\S+?)#xywh=(\d+,\d+,\d+,\d+)", text
    ):
        x, y, w, h = (int(v) for v in xywh.split(","))
        cues.append((_seconds(start), _seconds(end), sprite, (x, y, w, h)))
    return cues


def test_storyboard_cues_cover_the_video_and_point_into_sprites(
    clip_360: Path, tmp_path: Path
) -> None:
    duration = probe(clip_360).duration
    board = storyboard(clip_360, tmp_path, interval=1, tile_width=96, columns=3, rows=1)
    cues = _parse_vtt(board.vtt.read_text())
    assert len(cues) == math.ceil(duration) == len(board.cues)
    assert cues[0][0] == 0.0
    assert cues[-1][1] == pytest.approx(duration, abs=0.01)
    for (_, end, _, _), (start, _, _, _) in zip(cues, cues[1:]):
        assert start == end  # no gaps, no overlaps
    assert len(board.sprites) == 2  # 3 tiles per sheet, 4 cues
    for _, _, sprite, (x, y, w, h) in cues:
        assert (w, h) == (96, 54)
        with Image.open(tmp_path / sprite) as sheet:
            assert sheet.format == "JPEG"
            assert x + w <= sheet.width and y + h <= sheet.height
            assert sheet.crop((x, y, x + w, y + h)).convert("L").getextrema()[1] > 32


def test_preview_is_short_small_and_silent(clip_720: Path, tmp_path: Path) -> None:
    out = animated_preview(clip_720, tmp_path / "preview.mp4", duration=3, clips=3)
    result = probe(out)
    assert result.video_codec == "h264" and not result.has_audio
    assert result.width <= 640 and result.width == 640 and result.height == 360
    assert 0 < result.duration <= 10


def test_preview_length_is_capped_at_ten_seconds(clip_360: Path, tmp_path: Path) -> None:
    out = animated_preview(clip_360, tmp_path / "preview.mp4", duration=60)
    result = probe(out)
    assert result.duration <= 10 and result.width <= 640
