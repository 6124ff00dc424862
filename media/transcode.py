"""One-pass ladder transcode and CMAF packaging for HLS and DASH.

One ffmpeg process decodes the source once and ``split``s it into every rung (measured:
about 3x faster than encoding each rung and format separately). The dash muxer writes
CMAF fMP4 segments once; the MPD and the HLS playlists both point at them.

Segment alignment: every rung gets the same fixed, closed GOP of exactly one segment
(``-g``/``keyint_min`` = fps x segment, no scene-cut keyframes, keyframes forced on segment
boundaries), so players can switch rungs at any segment boundary.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg

from .errors import TRANSCODE_FAILED, MediaError
from .ladder import Rung
from .manifests import (
    AudioEntry,
    MediaPlaylist,
    VariantEntry,
    avc_codec_string,
    finish_media_playlist,
    peak_and_average_bitrate,
    read_media_playlist,
    read_mpd,
    write_master,
)
from .probe import ProbeResult, probe
from .progress import CancelCheck, ProgressCallback, ProgressThrottle
from .runner import run_ffmpeg_with_progress

MPD_NAME = "manifest.mpd"
MASTER_NAME = "master.m3u8"
INIT_SEGMENT_NAME = "init-$RepresentationID$.$ext$"
MEDIA_SEGMENT_NAME = "chunk-$RepresentationID$-$Number%05d$.$ext$"
# Files a previous run in the same directory may have left; removed first so a re-run
# replaces its output instead of leaving stale extra segments next to the new ones.
_OUTPUT_PATTERN = re.compile(
    r"^(init-\d+\.m4s|chunk-\d+-\d+\.m4s|media_\d+\.m3u8|"
    r"manifest\.mpd|master\.m3u8)(\.tmp)?$"
)
DEFAULT_AUDIO_BITRATE = 128_000
FALLBACK_FPS = 30.0


@dataclass(frozen=True, slots=True)
class Rendition:
    name: str  # rung name ("720p") or "audio"
    kind: str  # "video" or "audio"
    width: int | None
    height: int | None
    bitrate: int  # nominal bits per second (the DASH @bandwidth)
    peak_bitrate: int  # measured on the written segments (the HLS BANDWIDTH part)
    codecs: str
    playlist: Path  # HLS media playlist
    files: tuple[Path, ...]  # init segment + media segments
    size_bytes: int


@dataclass(frozen=True, slots=True)
class TranscodeResult:
    out_dir: Path
    mpd: Path
    master: Path
    renditions: list[Rendition] = field(default_factory=list)
    duration: float = 0.0
    segment_seconds: float = 0.0

    @property
    def files(self) -> list[Path]:
        """Every file a player may fetch: manifests, playlists, segments."""
        paths = [self.mpd, self.master]
        for rendition in self.renditions:
            paths += [rendition.playlist, *rendition.files]
        return paths


def build_command(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    rungs: Sequence[Rung],
    source: ProbeResult,
    *,
    segment_seconds: float = 4,
    preset: str = "veryfast",
    audio_bitrate: int = DEFAULT_AUDIO_BITRATE,
) -> list[str]:
    """ffmpeg arguments (without the binary) for the whole ladder in one process."""
    if not rungs:
        raise ValueError("at least one rung is required")
    fps = source.fps if 0 < source.fps <= 120 else FALLBACK_FPS
    gop = max(1, round(fps * segment_seconds))

    inp = ffmpeg.input(str(src))
    # Convert to 8-bit 4:2:0 once, before the split: every browser decodes it, 10-bit or
    # 4:2:2 sources otherwise give High 10 / 4:2:2 profiles that most players reject.
    split = inp.video.filter("format", "yuv420p").filter_multi_output("split", len(rungs))
    # Even dimensions cannot always keep the exact aspect ratio (16:9 at 480 lines is
    # 853.3 px), and the dash muxer rejects an adaptation set whose aspect ratios differ, so
    # every rung is tagged with the source's display aspect ratio (a near-1:1 SAR makes up
    # the rounding).
    dar = f"{source.width}/{source.height}"
    streams: list[Any] = [
        split[i].filter("scale", rung.width, rung.height).filter("setdar", dar)
        for i, rung in enumerate(rungs)
    ]
    kwargs: dict[str, Any] = {
        "c:v": "libx264",
        "preset": preset,
        "g": gop,
        "keyint_min": gop,
        "sc_threshold": 0,
        "flags": "+cgop",  # closed GOPs: every segment decodes without the previous one
        "force_key_frames": f"expr:gte(t,n_forced*{segment_seconds:g})",
    }
    for i, rung in enumerate(rungs):
        # Without a bitrate the muxer has no @bandwidth / BANDWIDTH to write (CRF has none).
        kwargs[f"b:v:{i}"] = rung.bitrate
        kwargs[f"maxrate:v:{i}"] = rung.maxrate
        kwargs[f"bufsize:v:{i}"] = rung.bufsize
    adaptation_sets = "id=0,streams=v"
    if source.has_audio:
        streams.append(inp.audio)
        kwargs.update({"c:a": "aac", "b:a": audio_bitrate, "ar": 48000})
        if (source.audio_channels or 2) > 2:
            kwargs["ac"] = 2  # surround to stereo: what browsers play everywhere
        adaptation_sets += " id=1,streams=a"
    kwargs.update(
        {
            "f": "dash",
            "seg_duration": f"{segment_seconds:g}",
            "use_template": 1,
            "use_timeline": 0,  # fixed-duration template: segments are aligned by the GOP
            "single_file": 0,
            "hls_playlist": 1,
            "hls_master_name": MASTER_NAME,
            "init_seg_name": INIT_SEGMENT_NAME,
            "media_seg_name": MEDIA_SEGMENT_NAME,
            "adaptation_sets": adaptation_sets,
            "format_options": "movflags=+cmaf",
            "map_metadata": -1,
        }
    )
    out = ffmpeg.output(*streams, str(Path(out_dir) / MPD_NAME), **kwargs).overwrite_output()
    return list(out.get_args())


def transcode_ladder(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    rungs: Sequence[Rung],
    *,
    segment_seconds: float = 4,
    preset: str = "veryfast",
    audio_bitrate: int = DEFAULT_AUDIO_BITRATE,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    source: ProbeResult | None = None,
    timeout: float | None = None,
) -> TranscodeResult:
    """Transcode ``src`` into ``rungs`` as CMAF segments with ``manifest.mpd`` and ``master.m3u8``.

    ``on_progress(fraction, message)`` is called at most about once a second with growing
    fractions, the last being 1.0; ``should_cancel()`` is polled and kills ffmpeg
    (``MediaError(CANCELLED)``). Output files of an earlier run in ``out_dir`` are removed
    first, so a re-run replaces it; after a failure the contents of ``out_dir`` are undefined.
    """
    source = source or probe(src)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous_output(out)
    args = build_command(
        src,
        out,
        rungs,
        source,
        segment_seconds=segment_seconds,
        preset=preset,
        audio_bitrate=audio_bitrate,
    )
    run_ffmpeg_with_progress(
        args,
        total_seconds=source.duration,
        error_code=TRANSCODE_FAILED,
        what="transcoding",
        on_progress=on_progress,
        should_cancel=should_cancel,
        timeout=timeout,
    )
    result = _package(out, rungs, source, segment_seconds, audio_bitrate)
    ProgressThrottle(on_progress)(1.0, "transcoding: done", force=True)
    return result


def _remove_previous_output(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and _OUTPUT_PATTERN.match(path.name):
            path.unlink()


def _package(
    out: Path,
    rungs: Sequence[Rung],
    source: ProbeResult,
    segment_seconds: float,
    audio_bitrate: int,
) -> TranscodeResult:
    mpd = out / MPD_NAME
    if not mpd.is_file():
        raise MediaError(TRANSCODE_FAILED, "ffmpeg wrote no DASH manifest")
    reps = read_mpd(mpd)
    expected = len(rungs) + (1 if source.has_audio else 0)
    if len(reps) != expected:
        raise MediaError(
            TRANSCODE_FAILED, f"manifest has {len(reps)} representations, expected {expected}"
        )

    # Output stream i is representation i and media_i.m3u8: videos in rung order, then audio.
    playlists: list[MediaPlaylist] = []
    for i in range(expected):
        path = out / f"media_{i}.m3u8"
        if not path.is_file():
            raise MediaError(TRANSCODE_FAILED, f"ffmpeg wrote no HLS playlist {path.name}")
        playlist = read_media_playlist(path)
        if not playlist.ended or not playlist.segments:
            raise MediaError(TRANSCODE_FAILED, f"{path.name} is incomplete")
        missing = [p.name for p in playlist.files() if not p.is_file()]
        if missing:
            raise MediaError(TRANSCODE_FAILED, f"{path.name} names missing files: {missing[:3]}")
        finish_media_playlist(path)
        playlists.append(playlist)

    renditions: list[Rendition] = []
    variants: list[VariantEntry] = []
    for i, rung in enumerate(rungs):
        playlist = playlists[i]
        # The MPD's codec string comes from the SPS; the avcC box is the same data.
        codecs = reps[i].codecs or (
            avc_codec_string(out / playlist.init) if playlist.init else None
        )
        if not codecs:
            raise MediaError(TRANSCODE_FAILED, f"no codec string for rendition {rung.name}")
        peak, average = peak_and_average_bitrate(playlist)
        variants.append(
            VariantEntry(
                uri=playlist.path.name,
                peak=peak,
                average=average,
                width=rung.width,
                height=rung.height,
                fps=source.fps,
                codecs=codecs,
            )
        )
        renditions.append(
            _rendition(
                rung.name,
                "video",
                rung.width,
                rung.height,
                reps[i].bandwidth or rung.bitrate,
                peak,
                codecs,
                playlist,
            )
        )

    audio: AudioEntry | None = None
    if source.has_audio:
        playlist = playlists[-1]
        codecs = reps[-1].codecs or "mp4a.40.2"  # ffmpeg's aac encoder writes AAC-LC
        peak, average = peak_and_average_bitrate(playlist)
        audio = AudioEntry(
            uri=playlist.path.name,
            peak=peak,
            average=average,
            codecs=codecs,
            channels=min(source.audio_channels or 2, 2),
        )
        renditions.append(
            _rendition(
                "audio",
                "audio",
                None,
                None,
                reps[-1].bandwidth or audio_bitrate,
                peak,
                codecs,
                playlist,
            )
        )

    master = out / MASTER_NAME
    write_master(master, variants, audio)
    return TranscodeResult(
        out_dir=out,
        mpd=mpd,
        master=master,
        renditions=renditions,
        duration=source.duration,
        segment_seconds=segment_seconds,
    )


def _rendition(
    name: str,
    kind: str,
    width: int | None,
    height: int | None,
    bitrate: int,
    peak: int,
    codecs: str,
    playlist: MediaPlaylist,
) -> Rendition:
    files = tuple(playlist.files())
    return Rendition(
        name=name,
        kind=kind,
        width=width,
        height=height,
        bitrate=bitrate,
        peak_bitrate=peak,
        codecs=codecs,
        playlist=playlist.path,
        files=files,
        size_bytes=sum(p.stat().st_size for p in files),
    )
