from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from media import animated_preview, is_black, plan_ladder, probe, storyboard, transcode_ladder


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


@pytest.fixture(scope="module")
def lowest_rung(clip_720: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clip_720's 360p rung as the pipeline hands it over: init + media segments joined."""
    rung = plan_ladder(1280, 720)[-1]
    result = transcode_ladder(
        clip_720, tmp_path_factory.mktemp("rung"), [rung], segment_seconds=2, preset="ultrafast"
    )
    video = next(r for r in result.renditions if r.kind == "video")
    joined = result.out_dir / "rung.mp4"
    joined.write_bytes(b"".join(path.read_bytes() for path in video.files))
    return joined


def test_storyboard_from_the_lowest_rung_covers_the_source(
    clip_720: Path, lowest_rung: Path, tmp_path: Path
) -> None:
    source = probe(clip_720)
    board = storyboard(lowest_rung, tmp_path, interval=1, source=source)
    cues = _parse_vtt(board.vtt.read_text())
    assert len(cues) == math.ceil(source.duration - 1e-6)
    assert cues[0][0] == 0.0 and cues[-1][1] == pytest.approx(source.duration, abs=0.01)
    for (_, end, _, _), (start, _, _, _) in zip(cues, cues[1:]):
        assert start == end
    with Image.open(board.sprites[0]) as sheet:
        for _, _, _, (x, y, w, h) in cues:
            assert (w, h) == (160, 90)  # the default tile width, as from the source
            assert sheet.crop((x, y, x + w, y + h)).convert("L").getextrema()[1] > 32


def test_preview_from_the_lowest_rung_is_full_preview_size(
    clip_720: Path, lowest_rung: Path, tmp_path: Path
) -> None:
    out = animated_preview(
        lowest_rung, tmp_path / "preview.mp4", duration=3, clips=3, source=probe(clip_720)
    )
    result = probe(out)
    assert result.video_codec == "h264" and not result.has_audio
    assert (result.width, result.height) == (640, 360)
    assert 2.5 < result.duration <= 3.1
    frame = tmp_path / "last.png"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-sseof",
            "-0.2",
            "-i",
            str(out),
            "-frames:v",
            "1",
            str(frame),
        ],
        check=True,
        timeout=60,
    )
    assert not is_black(frame)  # the last excerpt (near the end of the source) has content
