"""Reading and finishing the manifests written by ffmpeg's dash muxer.

ffmpeg writes the MPD, one HLS media playlist per stream and an HLS master over the same
CMAF segments. We rewrite the master ourselves so its attributes are right whatever the
ffmpeg version: BANDWIDTH is the *peak* segment bit rate measured on disk (what the HLS
spec asks for; ffmpeg writes the average), plus AVERAGE-BANDWIDTH, RESOLUTION, FRAME-RATE
and CODECS. Media playlists get ``#EXT-X-PLAYLIST-TYPE:VOD`` and lose the wall-clock
``#EXT-X-PROGRAM-DATE-TIME`` tags that the muxer stamps on (meaningless for VOD).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .errors import TRANSCODE_FAILED, MediaError

_MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"


@dataclass(frozen=True, slots=True)
class MpdRepresentation:
    id: str
    content_type: str  # "video" or "audio"
    codecs: str | None
    bandwidth: int
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    path: Path
    init: str | None  # EXT-X-MAP URI
    segments: list[tuple[str, float]]  # (uri, duration seconds)
    ended: bool  # has #EXT-X-ENDLIST

    def files(self) -> list[Path]:
        names = ([self.init] if self.init else []) + [uri for uri, _ in self.segments]
        return [self.path.parent / name for name in names]


def read_mpd(path: Path) -> list[MpdRepresentation]:
    """Representations of an MPD, in document order."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise MediaError(TRANSCODE_FAILED, f"unreadable DASH manifest {path.name}") from exc
    reps = []
    for aset in root.iter(f"{_MPD_NS}AdaptationSet"):
        for rep in aset.iter(f"{_MPD_NS}Representation"):
            kind = aset.get("contentType") or (rep.get("mimeType") or "").split("/")[0]
            reps.append(
                MpdRepresentation(
                    id=rep.get("id", ""),
                    content_type=kind,
                    codecs=rep.get("codecs") or aset.get("codecs"),
                    bandwidth=int(rep.get("bandwidth") or 0),
                    width=_opt_int(rep.get("width")),
                    height=_opt_int(rep.get("height")),
                )
            )
    return reps


def read_media_playlist(path: Path) -> MediaPlaylist:
    init: str | None = None
    segments: list[tuple[str, float]] = []
    pending: float | None = None
    ended = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            init = _attr(line, "URI")
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#") and pending is not None:
            segments.append((line, pending))
            pending = None
    return MediaPlaylist(path=path, init=init, segments=segments, ended=ended)


def finish_media_playlist(path: Path) -> None:
    """Mark a finished playlist as VOD and drop the muxer's wall-clock timestamps."""
    lines = [
        line
        for line in path.read_text().splitlines()
        if not line.startswith(("#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-PLAYLIST-TYPE"))
    ]
    at = next(
        (i + 1 for i, line in enumerate(lines) if line.startswith("#EXT-X-TARGETDURATION")), 1
    )
    lines.insert(at, "#EXT-X-PLAYLIST-TYPE:VOD")
    _write_atomic(path, "\n".join(lines) + "\n")


def peak_and_average_bitrate(playlist: MediaPlaylist) -> tuple[int, int]:
    """Measured bits per second: the largest segment's rate and the overall mean.

    A very short final segment would inflate the peak with its fixed overhead, so segments
    under half the longest duration are left out of the peak unless nothing else remains.
    """
    sized = [
        ((playlist.path.parent / uri).stat().st_size * 8, dur)
        for uri, dur in playlist.segments
        if dur > 0
    ]
    if not sized:
        return 0, 0
    longest = max(dur for _, dur in sized)
    full = [(bits, dur) for bits, dur in sized if dur >= longest / 2] or sized
    peak = max(bits / dur for bits, dur in full)
    average = sum(bits for bits, _ in sized) / sum(dur for _, dur in sized)
    return int(peak), int(average)


@dataclass(frozen=True, slots=True)
class VariantEntry:
    uri: str
    peak: int
    average: int
    width: int
    height: int
    fps: float
    codecs: str


@dataclass(frozen=True, slots=True)
class AudioEntry:
    uri: str
    peak: int
    average: int
    codecs: str
    channels: int | None


def write_master(path: Path, variants: list[VariantEntry], audio: AudioEntry | None) -> None:
    """Write an HLS master; variants carry the audio group's bandwidth and codec too."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        channels = f',CHANNELS="{audio.channels}"' if audio.channels else ""
        lines.append(
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES'
            f'{channels},URI="{audio.uri}"'
        )
    for v in variants:
        codecs = v.codecs + (f",{audio.codecs}" if audio else "")
        attrs = [
            f"BANDWIDTH={v.peak + (audio.peak if audio else 0)}",
            f"AVERAGE-BANDWIDTH={v.average + (audio.average if audio else 0)}",
            f"RESOLUTION={v.width}x{v.height}",
        ]
        if v.fps > 0:
            attrs.append(f"FRAME-RATE={v.fps:.3f}")
        attrs.append(f'CODECS="{codecs}"')
        if audio is not None:
            attrs.append('AUDIO="audio"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attrs)}", v.uri]
    _write_atomic(path, "\n".join(lines) + "\n")


def avc_codec_string(init_segment: Path) -> str | None:
    """RFC 6381 ``avc1.PPCCLL`` from the avcC box of an fMP4 init segment."""
    data = init_segment.read_bytes()
    at = data.find(b"avcC")
    if at < 0 or len(data) < at + 8:
        return None
    profile, compat, level = data[at + 5], data[at + 6], data[at + 7]
    return f"avc1.{profile:02x}{compat:02x}{level:02x}"


def _attr(line: str, name: str) -> str | None:
    marker = f'{name}="'
    start = line.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return line[start : line.index('"', start)]


def _opt_int(value: str | None) -> int | None:
    return int(value) if value else None


def _write_atomic(path: Path, text: str) -> None:
    # A player or uploader reading mid-write must see the old or the new file, never half.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
