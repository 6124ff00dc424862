from __future__ import annotations

import math
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from media import MediaError, TranscodeResult, plan_ladder, probe, transcode_ladder

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
SEGMENT = 2  # seconds; short so a 4 s clip yields several segments


@pytest.fixture(scope="module")
def ladder_run(clip_720: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ladder")
    calls: list[tuple[float, str]] = []
    rungs = plan_ladder(1280, 720)
    result = transcode_ladder(
        clip_720, out, rungs, segment_seconds=SEGMENT, on_progress=lambda f, m: calls.append((f, m))
    )
    return result, rungs, calls


def _attributes(line: str) -> dict[str, str]:
    body = line.split(":", 1)[1]
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', body)}


def _playlist_entries(path: Path) -> tuple[list[str], list[float], bool]:
    text = path.read_text().splitlines()
    maps = "\n".join(line for line in text if line.startswith("#EXT-X-MAP"))
    uris = re.findall(r'URI="([^"]+)"', maps)
    durations = [
        float(line.split(":")[1].rstrip(",")) for line in text if line.startswith("#EXTINF")
    ]
    uris += [line for line in text if line and not line.startswith("#")]
    return uris, durations, text[-1] == "#EXT-X-ENDLIST"


def _running_ffmpeg_for(path: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ffmpeg" in cmdline and str(path) in cmdline:
            pids.append(int(proc.name))
    return pids


def test_result_lists_every_rendition_with_its_size(ladder_run) -> None:
    result, rungs, _ = ladder_run
    assert isinstance(result, TranscodeResult)
    assert result.mpd.name == "manifest.mpd" and result.mpd.is_file()
    assert result.master.name == "master.m3u8" and result.master.is_file()
    videos = [r for r in result.renditions if r.kind == "video"]
    assert [(r.name, r.width, r.height) for r in videos] == [
        (r.name, r.width, r.height) for r in rungs
    ]
    assert [r.kind for r in result.renditions].count("audio") == 1
    for rendition in result.renditions:
        assert rendition.size_bytes == sum(p.stat().st_size for p in rendition.files) > 0
        assert rendition.bitrate > 0
    sizes = [r.size_bytes for r in videos]
    assert sizes == sorted(sizes, reverse=True)  # higher rungs cost more bytes


def test_master_playlist_has_bandwidth_resolution_and_codecs(ladder_run) -> None:
    result, rungs, _ = ladder_run
    lines = result.master.read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    media = [_attributes(line) for line in lines if line.startswith("#EXT-X-MEDIA:")]
    assert len(media) == 1 and media[0]["TYPE"] == "AUDIO"
    assert (result.out_dir / media[0]["URI"]).is_file()
    variants = [
        (_attributes(line), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    assert [v["RESOLUTION"] for v, _ in variants] == [f"{r.width}x{r.height}" for r in rungs]
    for (attrs, uri), rung in zip(variants, rungs):
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 0
        codecs = attrs["CODECS"].split(",")
        assert codecs[0].startswith("avc1.") and codecs[1] == "mp4a.40.2"
        assert attrs["AUDIO"] == media[0]["GROUP-ID"]
        assert (result.out_dir / uri).is_file()
        # Within reach of the nominal bitrate (+ audio): constrained VBR, not runaway.
        assert int(attrs["BANDWIDTH"]) < 2 * (rung.maxrate + 200_000)


def test_media_playlists_are_vod_and_their_segments_exist(ladder_run) -> None:
    result, _, _ = ladder_run
    durations_by_rendition = []
    for rendition in result.renditions:
        uris, durations, ended = _playlist_entries(rendition.playlist)
        assert ended, f"{rendition.playlist.name} must end with #EXT-X-ENDLIST"
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in rendition.playlist.read_text()
        assert uris and all((result.out_dir / uri).is_file() for uri in uris)
        assert sum(durations) == pytest.approx(result.duration, abs=0.2)
        if rendition.kind == "video":
            durations_by_rendition.append(durations)
    # Aligned GOPs: every video rung is cut at the same instants, one segment per 2 s.
    assert all(d == durations_by_rendition[0] for d in durations_by_rendition)
    assert all(d == pytest.approx(SEGMENT) for d in durations_by_rendition[0][:-1])


def test_mpd_lists_representations_with_bandwidth_and_segments_on_disk(ladder_run) -> None:
    result, rungs, _ = ladder_run
    root = ET.parse(result.mpd).getroot()
    assert root.get("type") == "static"
    reps = root.findall(".//d:AdaptationSet/d:Representation", NS)
    video = [r for r in reps if r.get("mimeType") == "video/mp4"]
    audio = [r for r in reps if r.get("mimeType") == "audio/mp4"]
    assert len(audio) == 1
    assert [
        (int(r.get("width")), int(r.get("height")), int(r.get("bandwidth"))) for r in video
    ] == [(r.width, r.height, r.bitrate) for r in rungs]
    assert all(r.get("codecs") for r in reps)
    # Resolve the SegmentTemplate as a DASH player would and check every file exists.
    total = result.duration
    for rep in reps:
        template = rep.find("d:SegmentTemplate", NS)
        assert template is not None
        seg_seconds = int(template.get("duration")) / int(template.get("timescale"))
        count = math.ceil(total / seg_seconds - 1e-3)
        init = template.get("initialization").replace("$RepresentationID$", rep.get("id"))
        assert (result.out_dir / init).is_file()
        for number in range(int(template.get("startNumber")), count + 1):
            name = (
                template.get("media")
                .replace("$RepresentationID$", rep.get("id"))
                .replace("$Number%05d$", f"{number:05d}")
            )
            assert (result.out_dir / name).is_file(), name


def test_progress_grows_and_ends_at_one(ladder_run) -> None:
    _, _, calls = ladder_run
    fractions = [f for f, _ in calls]
    assert fractions, "on_progress was never called"
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)


def test_video_without_audio_gets_one_rung_and_no_audio_group(
    clip_small_silent: Path, tmp_path: Path
) -> None:
    rungs = plan_ladder(320, 180)
    result = transcode_ladder(clip_small_silent, tmp_path, rungs, segment_seconds=1)
    assert [r.kind for r in result.renditions] == ["video"]
    master = result.master.read_text()
    assert "#EXT-X-MEDIA" not in master and "AUDIO=" not in master
    assert "RESOLUTION=320x180" in master and 'CODECS="avc1.' in master
    assert probe(result.out_dir / "init-0.m4s").video_codec == "h264"


def test_rerun_replaces_previous_output(clip_small_silent: Path, tmp_path: Path) -> None:
    rungs = plan_ladder(320, 180)
    transcode_ladder(clip_small_silent, tmp_path, rungs, segment_seconds=1)
    result = transcode_ladder(clip_small_silent, tmp_path, rungs, segment_seconds=3)
    named = {p.name for r in result.renditions for p in r.files}
    on_disk = {p.name for p in tmp_path.glob("*.m4s")}
    assert on_disk == named  # no stale segments of the first run


def test_cancel_flag_kills_ffmpeg_and_raises_cancelled(clip_720: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError) as info:
        transcode_ladder(clip_720, tmp_path, plan_ladder(1280, 720), should_cancel=lambda: True)
    assert info.value.code == "CANCELLED"
    assert _running_ffmpeg_for(tmp_path) == []
    for playlist in tmp_path.glob("media_*.m3u8"):
        assert "#EXT-X-ENDLIST" not in playlist.read_text()


def test_cancel_requested_from_progress_callback(clip_720: Path, tmp_path: Path) -> None:
    cancelled = False
    seen: list[float] = []

    def on_progress(fraction: float, _message: str) -> None:
        nonlocal cancelled
        seen.append(fraction)
        cancelled = True  # e.g. the job row was marked CANCELLED meanwhile

    with pytest.raises(MediaError) as info:
        transcode_ladder(
            clip_720,
            tmp_path,
            plan_ladder(1280, 720),
            segment_seconds=2,
            on_progress=on_progress,
            should_cancel=lambda: cancelled,
        )
    assert info.value.code == "CANCELLED"
    assert seen and 1.0 not in seen  # never reported as finished
    assert _running_ffmpeg_for(tmp_path) == []


def test_ffmpeg_failure_is_transcode_failed_with_its_stderr(
    clip_small_silent: Path, tmp_path: Path
) -> None:
    with pytest.raises(MediaError) as info:
        transcode_ladder(
            clip_small_silent, tmp_path, plan_ladder(320, 180), preset="no-such-preset"
        )
    assert info.value.code == "TRANSCODE_FAILED"
    assert "preset" in info.value.detail.lower()


def test_rotated_source_is_transcoded_upright(clip_small_silent: Path, tmp_path: Path) -> None:
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
    source = probe(rotated)
    result = transcode_ladder(
        rotated,
        tmp_path / "out",
        plan_ladder(source.width, source.height),
        segment_seconds=1,
        source=source,
    )
    assert "RESOLUTION=180x320" in result.master.read_text()
    rep = ET.parse(result.mpd).getroot().find(".//d:Representation", NS)
    assert rep is not None and (rep.get("width"), rep.get("height")) == ("180", "320")
