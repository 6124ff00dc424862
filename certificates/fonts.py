"""Fonts for certificates: names from anywhere in the world must print, never crash.

ReportLab's built-in fonts (Helvetica, Times) only know Latin-1-ish characters, so we embed
TrueType fonts found on the system: DejaVu (Latin, Greek, Cyrillic and more; Debian package
``fonts-dejavu-core``) for the look, then any TrueType CJK font that is installed
(``fonts-wqy-microhei``, ``fonts-droid-fallback``, ...) as a fallback. Each character is
drawn with the first font of its chain that has a glyph for it, so "Zoë 李雷" mixes fonts
inside one line. ReportLab cannot embed CFF-flavoured OpenType (Noto CJK ``.otf``/``.ttc``),
hence only TrueType candidates below.

Only without any TrueType font do the chains fall back to the built-in fonts, which a PDF
cannot embed; with DejaVu every font drawn is embedded (as a subset). A character that no
font has is replaced (by its unaccented letter when there is one, else "?") rather than
printed as an empty box, and the renderer logs it: a visible, explainable substitution
beats a silent one. Serif faces have no Arabic or Hebrew, so every chain also holds DejaVu
Sans of the same weight before the CJK fallback. Right-to-left text is shaped and reordered per line
(``certificates.rtl``), since ReportLab draws characters left to right as given.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from certificates.rtl import visual_order

__all__ = ["Typeface", "heading", "script", "body", "body_bold"]

FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
)

# TrueType CJK fonts commonly packaged on Linux, most complete first.
CJK_FALLBACK_FILES = (
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
    "uming.ttc",
    "NanumGothic.ttf",
)

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Typeface:
    """An ordered chain of registered ReportLab font names; the first font that has a glyph wins."""

    fonts: tuple[str, ...]

    def runs(self, text: str) -> list[tuple[str, str]]:
        """Split ``text`` into (font name, substring) runs, substituting unprintable characters."""
        runs: list[tuple[str, str]] = []
        for ch in visual_order(_printable(text)):
            font = self._font_for(ch)
            if font is None:
                for sub in _substitute(ch, self._font_for):
                    _append(runs, self._font_for(sub) or self.fonts[0], sub)
            else:
                _append(runs, font, ch)
        return runs

    def unprintable(self, text: str) -> set[str]:
        """Characters of ``text`` that no font of this typeface has (they get substitutes)."""
        return {ch for ch in visual_order(_printable(text)) if self._font_for(ch) is None}

    def width(self, text: str, size: float) -> float:
        """Width of ``text`` in points at ``size``, measured run by run with stringWidth."""
        return sum(pdfmetrics.stringWidth(run, font, size) for font, run in self.runs(text))

    def draw(
        self, canvas: Canvas, x: float, y: float, text: str, size: float, align: Align = "center"
    ) -> None:
        """Draw ``text`` on one line with its baseline at ``y``, aligned on ``x``."""
        runs = self.runs(text)
        total = sum(pdfmetrics.stringWidth(run, font, size) for font, run in runs)
        x -= {"left": 0.0, "center": total / 2, "right": total}[align]
        for font, run in runs:
            canvas.setFont(font, size)
            canvas.drawString(x, y, run)
            x += pdfmetrics.stringWidth(run, font, size)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - typefaces are few and live for the process
    def _font_for(self, ch: str) -> str | None:
        if ch == " ":
            return self.fonts[0]
        for font in self.fonts:
            if _has_glyph(font, ch):
                return font
        return None


def clean_text(text: str) -> str:
    """Compose accents and turn line breaks, tabs and runs of spaces into single spaces."""
    return re.sub(r" +", " ", _printable(text)).strip()


def _printable(text: str) -> str:
    # NFC first: "e" + combining diaeresis becomes the single glyph "ë" that fonts have.
    # Control characters become spaces; invisible format characters (zero-width joiners,
    # direction marks) are dropped, since without shaping they would only print as "?".
    out = []
    for ch in unicodedata.normalize("NFC", text):
        category = unicodedata.category(ch)
        if ch.isspace() or category == "Cc":
            out.append(" ")
        elif category != "Cf":
            out.append(ch)
    return "".join(out)


def heading() -> Typeface:
    """Bold serif for the title, the student's name and the course."""
    return _typeface("DejaVuSerif-Bold.ttf", "Times-Bold", "DejaVuSans-Bold.ttf")


def script() -> Typeface:
    """Italic serif for the connecting phrases ("This certifies that ...")."""
    return _typeface("DejaVuSerif-Italic.ttf", "Times-Italic", "DejaVuSans.ttf")


def body() -> Typeface:
    """Sans serif for details: instructors, date, certificate id, URL."""
    return _typeface("DejaVuSans.ttf", "Helvetica")


def body_bold() -> Typeface:
    """Bold sans serif for small labels."""
    return _typeface("DejaVuSans-Bold.ttf", "Helvetica-Bold")


@functools.cache
def _typeface(primary_file: str, builtin: str, *fallback_files: str) -> Typeface:
    # Primary look first, then same-weight sans (Arabic, Hebrew, more symbols), then CJK.
    chain = [name for name in (_register(file) for file in (primary_file, *fallback_files)) if name]
    chain += [name for name in (_register(file) for file in CJK_FALLBACK_FILES) if name]
    # Built-in fonts cannot be embedded (viewers substitute their own): use one only when no
    # TrueType font exists at all; otherwise a glyph no font has becomes a substitute.
    return Typeface(tuple(chain) or (builtin,))


@functools.cache
def _register(file_name: str) -> str | None:
    """Register a TrueType font found on the system under a stable name; None if unusable."""
    path = _font_index().get(file_name)
    if path is None:
        return None
    name = "Lyceum-" + Path(file_name).stem
    try:
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
    except (TTFError, OSError) as exc:  # e.g. CFF outlines, which ReportLab cannot embed
        logging.getLogger(__name__).info("skipping font %s: %s", path, exc)
        return None
    return name


@functools.cache
def _font_index() -> dict[str, Path]:
    """Map font file names to paths under the usual font directories (scanned once)."""
    index: dict[str, Path] = {}
    for root in FONT_DIRS:
        for dirpath, _dirs, files in os.walk(root):
            for file in sorted(files):
                index.setdefault(file, Path(dirpath, file))
    return index


def _has_glyph(font_name: str, ch: str) -> bool:
    font = pdfmetrics.getFont(font_name)
    face = getattr(font, "face", None)
    if isinstance(font, TTFont) and face is not None:
        return ord(ch) in face.charToGlyph
    # Built-in Type 1 fonts are drawn with WinAnsi (cp1252) encoding.
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _substitute(ch: str, font_for: Callable[[str], str | None]) -> str:
    """Best printable stand-in: the letter without its accent (Ő -> O), else a question mark."""
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and base != ch and all(font_for(c) for c in base):
        return base
    return "?"


def _append(runs: list[tuple[str, str]], font: str, text: str) -> None:
    if runs and runs[-1][0] == font:
        runs[-1] = (font, runs[-1][1] + text)
    else:
        runs.append((font, text))
