from __future__ import annotations

import pytest

from media import DEFAULT_LADDER, RungSpec, plan_ladder


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (3840, 2160),
        (1920, 1080),
        (1280, 720),
        (1283, 721),
        (854, 480),
        (640, 360),
        (320, 180),
        (321, 181),
        (1080, 1920),
        (720, 1280),
        (1440, 1080),
        (100, 50),
    ],
)
def test_ladder_never_upscales_and_keeps_shape(width: int, height: int) -> None:
    rungs = plan_ladder(width, height)
    assert rungs, "there is always at least one rung"
    for rung in rungs:
        assert rung.width <= width and rung.height <= height
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert rung.width / rung.height == pytest.approx(width / height, rel=0.02)
        assert 0 < rung.bitrate < rung.maxrate < rung.bufsize
    heights = [min(r.width, r.height) for r in rungs]
    assert heights == sorted(heights, reverse=True)
    assert len(set(heights)) == len(heights)


def test_full_hd_source_gets_the_whole_default_ladder() -> None:
    rungs = plan_ladder(1920, 1080)
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    assert [r.bitrate for r in rungs] == [5_000_000, 2_800_000, 1_400_000, 800_000]


def test_720p_source_stops_at_720p() -> None:
    assert [r.name for r in plan_ladder(1280, 720)] == ["720p", "480p", "360p"]


def test_source_below_the_lowest_rung_keeps_its_own_size() -> None:
    (rung,) = plan_ladder(321, 181)
    assert (rung.width, rung.height) == (320, 180)
    assert rung.bitrate < DEFAULT_LADDER[-1].bitrate


def test_portrait_rungs_are_chosen_by_the_short_side() -> None:
    rungs = plan_ladder(720, 1280)
    assert [(r.width, r.height) for r in rungs] == [(720, 1280), (480, 854), (360, 640)]


def test_custom_rungs() -> None:
    rungs = plan_ladder(
        1920, 1080, rungs=[RungSpec("low", 240, 300_000), RungSpec("hd", 720, 3_000_000)]
    )
    assert [(r.name, r.height) for r in rungs] == [("hd", 720), ("low", 240)]
