"""Choosing the rendition ladder for a source.

Rungs are defined by the short side ("720p" is 1280x720 landscape or 720x1280 portrait),
so phone videos get the same quality steps as landscape ones. We never upscale: a rung
taller than the source only costs bandwidth and adds no detail.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RungSpec:
    name: str
    short_side: int
    bitrate: int  # target video bits per second


@dataclass(frozen=True, slots=True)
class Rung:
    name: str
    width: int
    height: int
    bitrate: int  # -b:v, bits per second; the DASH @bandwidth comes from it
    maxrate: int  # -maxrate: caps peaks so players can trust BANDWIDTH
    bufsize: int  # -bufsize: VBV window that maxrate is enforced over

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


DEFAULT_LADDER: tuple[RungSpec, ...] = (
    RungSpec("1080p", 1080, 5_000_000),
    RungSpec("720p", 720, 2_800_000),
    RungSpec("480p", 480, 1_400_000),
    RungSpec("360p", 360, 800_000),
)

# Peak allowance over the average and VBV buffer, as multiples of the target bitrate:
# a common constrained-VBR setting that keeps quality while bounding segment sizes.
MAXRATE_FACTOR = 1.07
BUFSIZE_FACTOR = 1.5
MIN_BITRATE = 100_000


def plan_ladder(
    width: int, height: int, *, rungs: tuple[RungSpec, ...] | list[RungSpec] = DEFAULT_LADDER
) -> list[Rung]:
    """Rungs for a ``width``x``height`` source, highest first; never empty, never upscaled."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid source size {width}x{height}")
    if not rungs:
        raise ValueError("a ladder needs at least one rung")
    portrait = height > width
    short, long = (width, height) if portrait else (height, width)
    specs = sorted(rungs, key=lambda spec: spec.short_side, reverse=True)

    planned: list[Rung] = []
    for spec in specs:
        if spec.short_side > short:
            continue
        planned.append(
            _rung(
                spec.name,
                spec.short_side,
                long * spec.short_side / short,
                spec.bitrate,
                portrait,
                long,
            )
        )
    if not planned:
        # Smaller than the lowest rung: keep the source size (even, as yuv420p requires) and
        # scale the lowest rung's bitrate by pixel count.
        lowest = specs[-1]
        out_short = _even_down(short)
        pixel_ratio = (out_short / lowest.short_side) ** 2
        planned.append(
            _rung(
                f"{out_short}p",
                out_short,
                long * out_short / short,
                max(MIN_BITRATE, int(lowest.bitrate * pixel_ratio)),
                portrait,
                long,
            )
        )
    return _dedupe(planned)


def _rung(
    name: str, short: int, long: float, bitrate: int, portrait: bool, source_long: int
) -> Rung:
    short, long_even = _even_down(short), min(_even(long), _even_down(source_long))
    width, height = (short, long_even) if portrait else (long_even, short)
    return Rung(
        name=name,
        width=width,
        height=height,
        bitrate=bitrate,
        maxrate=int(bitrate * MAXRATE_FACTOR),
        bufsize=int(bitrate * BUFSIZE_FACTOR),
    )


def _dedupe(rungs: list[Rung]) -> list[Rung]:
    seen: set[tuple[int, int]] = set()
    unique = []
    for rung in rungs:
        if (rung.width, rung.height) not in seen:
            seen.add((rung.width, rung.height))
            unique.append(rung)
    return unique


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _even_down(value: int) -> int:
    # Rounding down keeps "never upscale" true for odd sources (a 181-line video gives 180).
    return max(2, value - value % 2)
