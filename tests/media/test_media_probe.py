from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from media import MediaError, probe, validate
from media.progress import ProgressParser, ProgressThrottle


def test_probe_reports_what_the_clip_is(clip_360: Path) -> None:
    result = probe(clip_360)
    assert (result.width, result.height) == (640, 360)
    assert result.duration == pytest.approx(4.0, abs=0.1)
    assert result.fps == pytest.approx(25.0)
    assert result.video_codec == "h264"
    assert result.has_audio and result.audio_codec == "aac"
    assert result.bit_rate and result.bit_rate > 0
    assert "mp4" in result.format_name


def test_valid_clip_passes_validation(clip_360: Path) -> None:
    assert validate(clip_360).width == 640


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("zero_bytes", "INVALID_MEDIA"),
        ("random_bytes", "INVALID_MEDIA"),
        ("truncated", "INVALID_MEDIA"),
        ("truncated_faststart", "INVALID_MEDIA"),
        ("audio_only", "NO_VIDEO_STREAM"),
        ("clip_too_short", "TOO_SHORT"),
    ],
)
def test_broken_or_unsuitable_files_fail_with_a_stable_code(
    fixture: str, code: str, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(MediaError) as info:
        validate(request.getfixturevalue(fixture))
    assert info.value.code == code
    assert info.value.message  # something a person can read


def test_messages_name_the_file_as_its_owner_knows_it(random_bytes: Path) -> None:
    with pytest.raises(MediaError) as info:
        validate(random_bytes, name="My lecture (final).mov")
    assert info.value.code == "INVALID_MEDIA"
    assert info.value.message.startswith("My lecture (final).mov ")
    assert random_bytes.name not in info.value.message


def test_missing_file_is_invalid_media(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as info:
        validate(tmp_path / "nope.mp4")
    assert info.value.code == "INVALID_MEDIA"


def test_limits_on_duration_and_resolution(clip_360: Path) -> None:
    result = probe(clip_360)
    with pytest.raises(MediaError) as info:
        validate(result, max_duration=2)
    assert info.value.code == "TOO_LONG"
    with pytest.raises(MediaError) as info:
        validate(result, max_width=320, max_height=180)
    assert info.value.code == "RESOLUTION_TOO_HIGH"
    # Limits are orientation-agnostic: 640x360 fits a portrait 360x640 limit too.
    assert validate(result, max_width=360, max_height=640, check_decode=False) is result


def test_progress_parser_reads_microseconds_from_out_time_us() -> None:
    parser = ProgressParser()
    lines = [
        "frame=10",
        "out_time_us=2500000",
        "out_time_ms=2500000",
        "speed=1.5x",
        "progress=continue",
    ]
    blocks = [parser.feed(line) for line in lines]
    assert blocks[:-1] == [None] * 4
    block = blocks[-1]
    assert block is not None and block.out_time == 2.5 and block.speed == 1.5
    assert not block.ended
    ended = [parser.feed(line) for line in ["out_time_us=N/A", "progress=end"]][-1]
    assert ended is not None and ended.ended and ended.out_time == 2.5  # never goes back


def test_progress_throttle_forwards_only_growing_fractions() -> None:
    seen: list[float] = []
    throttle = ProgressThrottle(lambda fraction, _message: seen.append(fraction))
    throttle(0.2, "a", force=True)
    throttle(0.1, "b", force=True)  # smaller: dropped
    throttle(0.3, "c")  # within a second of the last: dropped
    throttle(1.0, "done", force=True)
    assert seen == [0.2, 1.0]


def test_phone_rotation_is_reported_as_display_size(
    clip_small_silent: Path, tmp_path: Path
) -> None:
    rotated = tmp_path / "portrait.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(clip_small_silent),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            str(rotated),
        ],
        check=True,
        timeout=60,
    )
    result = validate(rotated)
    assert (result.width, result.height) == (180, 320)
    assert result.rotation in (90, 270)
