"""Fit a line of text into a width: shrink first, then break between words.

Names and course titles are whatever people typed, up to hundreds of characters. We never
truncate them (a certificate with half a name is wrong); we pick the fewest lines that keep
the font at or above a legible minimum, and if even that fails, shrink further until the
text fits. Widths come from ReportLab's stringWidth, which is exactly what gets drawn.
"""

from __future__ import annotations

import itertools
import math
import re

from certificates.fonts import Typeface, clean_text

__all__ = ["fit_lines"]

_MAX_CANDIDATE_SPLITS = 5000  # bounds the brute-force search for pathological word counts


def fit_lines(
    face: Typeface,
    text: str,
    *,
    max_width: float,
    max_size: float,
    min_size: float,
    max_lines: int = 1,
    url: bool = False,
) -> tuple[float, list[str]]:
    """Return (font size, lines) so that every line is at most ``max_width`` points wide.

    Lines break between words, or after a slash when ``url`` is set (URLs have no spaces).
    """
    cleaned = clean_text(text)
    words = re.split(r"(?<=[^/]/)(?=[^/])", cleaned) if url else cleaned.split(" ")
    joiner = "" if url else " "
    unit = [face.width(word, 1.0) for word in words]  # widths scale linearly with size
    space = face.width(joiner, 1.0) if joiner else 0.0

    best: tuple[float, list[str]] | None = None
    for count in range(1, min(max_lines, len(words)) + 1):
        widest, lines = _balanced_split(words, unit, space, joiner, count)
        size = _floor_tenth(min(max_size, max_width / widest)) if widest else max_size
        if size >= min_size:
            return size, lines
        if best is None or size > best[0]:
            best = (size, lines)
    assert best is not None  # words is never empty: "".split(" ") == [""]
    return best


def _balanced_split(
    words: list[str], unit: list[float], space: float, joiner: str, count: int
) -> tuple[float, list[str]]:
    """Split words into ``count`` lines minimising the widest line (unit widths at size 1)."""
    prefix = [0.0, *itertools.accumulate(unit)]

    def line_width(start: int, end: int) -> float:
        return prefix[end] - prefix[start] + space * (end - start - 1)

    gaps = range(1, len(words))
    candidates = itertools.islice(itertools.combinations(gaps, count - 1), _MAX_CANDIDATE_SPLITS)
    best_width, best_cuts = math.inf, ()
    for cuts in candidates:
        bounds = (0, *cuts, len(words))
        widest = max(line_width(a, b) for a, b in itertools.pairwise(bounds))
        if widest < best_width:
            best_width, best_cuts = widest, cuts
    bounds = (0, *best_cuts, len(words))
    lines = [joiner.join(words[a:b]) for a, b in itertools.pairwise(bounds)]
    return best_width, lines


def _floor_tenth(size: float) -> float:
    # Round down to 0.1 pt so that size * width never exceeds the limit by a rounding error.
    # (Absurdly long text falls below 0.1 pt; then just stay a hair under the limit.)
    return math.floor(size * 10) / 10 or size * 0.999
