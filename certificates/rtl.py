"""Right-to-left text for a canvas that draws characters left to right, one glyph each.

ReportLab has neither Arabic shaping nor bidirectional reordering: "محمد" would print as
four isolated letters in reverse order. Two steps fix that for one line of text, with the
standard library only (the `python-bidi`/`arabic-reshaper` packages would do the same for
far more code than names and titles need):

1. Shaping. Each Arabic letter becomes its contextual presentation form (isolated,
   initial, medial, final; Unicode's Arabic Presentation Forms, which DejaVu Sans has) and
   LAM + ALEF becomes its ligature. The table is read from `unicodedata`'s compatibility
   decompositions ("<final> 0628"), so no hand-written table can be wrong.
2. Ordering. The implicit part of the Unicode Bidirectional Algorithm (UAX #9: weak types
   W1–W7, neutrals N1–N2, levels I1–I2, reordering L2, mirrored brackets L4). Explicit
   embeddings and isolates are format characters, which the fonts module drops first.

Text without right-to-left characters comes back unchanged, at the cost of one scan.
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["visual_order", "shape_arabic", "has_rtl"]

_FORMS = ("isolated", "final", "initial", "medial")
_ALEFS = "\u0622\u0623\u0625\u0627"  # ALEF with madda, hamza above, hamza below, plain
_LAM = "\u0644"
_JOIN_CAUSING = {"\u0640"}  # TATWEEL joins on both sides and has no forms of its own
_MIRROR = dict(zip("()[]{}<>«»‹›", ")(][}{><»«›‹"))
_STRONG_RTL = {"R", "AL"}


@functools.cache
def _tables() -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], str]]:
    """(letter → {form: glyph}, (form, alef) → LAM-ALEF ligature) from the Unicode database."""
    forms: dict[str, dict[str, str]] = {}
    ligatures: dict[tuple[str, str], str] = {}
    for code in [*range(0xFB50, 0xFE00), *range(0xFE70, 0xFF00)]:
        glyph = chr(code)
        tag, _, rest = unicodedata.decomposition(glyph).partition(" ")
        form = tag.strip("<>")
        if form not in _FORMS or not rest:
            continue
        letters = "".join(chr(int(part, 16)) for part in rest.split())
        if len(letters) == 1 and unicodedata.category(letters) == "Lo":
            forms.setdefault(letters, {}).setdefault(form, glyph)
        elif len(letters) == 2 and letters[0] == _LAM and letters[1] in _ALEFS:
            ligatures.setdefault((form, letters[1]), glyph)
    return forms, ligatures


def _joins_forward(ch: str) -> bool:
    """Whether `ch` connects to the letter after it (dual-joining or TATWEEL)."""
    if ch in _JOIN_CAUSING:
        return True
    available = _tables()[0].get(ch, {})
    return "initial" in available or "medial" in available


def _joins_backward(ch: str) -> bool:
    """Whether `ch` connects to the letter before it (dual- or right-joining or TATWEEL)."""
    return ch in _JOIN_CAUSING or "final" in _tables()[0].get(ch, {})


def _transparent(ch: str) -> bool:
    return unicodedata.category(ch) == "Mn"  # harakat sit on a letter without breaking the join


def has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in _STRONG_RTL for ch in text)


def shape_arabic(text: str) -> str:
    """Replace Arabic letters by their contextual forms (logical order is kept)."""
    forms, ligatures = _tables()
    chars = list(text)
    out: list[str] = []
    i = 0

    def neighbour(start: int, step: int) -> str | None:
        j = start + step
        while 0 <= j < len(chars) and _transparent(chars[j]):
            j += step
        return chars[j] if 0 <= j < len(chars) else None

    while i < len(chars):
        ch = chars[i]
        if ch not in forms:
            out.append(ch)
            i += 1
            continue
        before = neighbour(i, -1)
        joined_before = before is not None and _joins_forward(before) and _joins_backward(ch)
        after = neighbour(i, +1)
        if ch == _LAM and after in _ALEFS and i + 1 < len(chars) and chars[i + 1] == after:
            ligature = ligatures.get(("final" if joined_before else "isolated", after))
            if ligature:
                out.append(ligature)
                i += 2
                continue
        joined_after = after is not None and _joins_forward(ch) and _joins_backward(after)
        form = {
            (False, False): "isolated",
            (True, False): "final",
            (False, True): "initial",
            (True, True): "medial",
        }[(joined_before, joined_after)]
        available = forms[ch]
        out.append(available.get(form) or available.get("isolated") or ch)
        i += 1
    return "".join(out)


def _bidi_types(text: str, base: int) -> list[str]:
    """Resolved bidi types after the weak (W1–W7) and neutral (N1–N2) rules, for one line."""
    sos = "R" if base else "L"
    types = [unicodedata.bidirectional(ch) or "L" for ch in text]
    # W1: non-spacing marks take the type of what they mark.
    for i, kind in enumerate(types):
        if kind == "NSM":
            types[i] = types[i - 1] if i else sos
    # W2: European digits after Arabic letters are Arabic numbers. W3: AL is R.
    last_strong = sos
    for i, kind in enumerate(types):
        if kind in ("L", "R", "AL"):
            last_strong = kind
        elif kind == "EN" and last_strong == "AL":
            types[i] = "AN"
    types = ["R" if kind == "AL" else kind for kind in types]
    # W4: one separator between two numbers of a kind joins them.
    for i in range(1, len(types) - 1):
        if types[i] == "ES" and types[i - 1] == types[i + 1] == "EN":
            types[i] = "EN"
        elif types[i] == "CS" and types[i - 1] == types[i + 1] and types[i - 1] in ("EN", "AN"):
            types[i] = types[i - 1]
    # W5: terminators (%, $, ...) next to European numbers belong to them.
    for i, kind in enumerate(types):
        if kind == "EN":
            for step in (-1, 1):
                j = i + step
                while 0 <= j < len(types) and types[j] == "ET":
                    types[j] = "EN"
                    j += step
    # W6: leftover separators and terminators are neutral.
    types = ["ON" if kind in ("ES", "ET", "CS") else kind for kind in types]
    # W7: European numbers in a left-to-right context are L.
    last_strong = sos
    for i, kind in enumerate(types):
        if kind in ("L", "R"):
            last_strong = kind
        elif kind == "EN" and last_strong == "L":
            types[i] = "L"
    # N1/N2: a run of neutrals takes the direction around it when both sides agree, else the base.
    strong = [("R" if kind in ("R", "EN", "AN") else kind) for kind in types]
    i = 0
    while i < len(types):
        if strong[i] in ("L", "R"):
            i += 1
            continue
        j = i
        while j < len(types) and strong[j] not in ("L", "R"):
            j += 1
        left = strong[i - 1] if i else sos
        right = strong[j] if j < len(types) else sos
        direction = left if left == right else sos
        for k in range(i, j):
            types[k] = direction
        i = j
    return types


def visual_order(text: str) -> str:
    """Shape and reorder one line for left-to-right drawing. The paragraph direction is
    that of the first strong character (a name starting in Hebrew is laid out right to left)."""
    if not has_rtl(text):
        return text
    text = shape_arabic(text)
    first = next(
        (
            unicodedata.bidirectional(ch)
            for ch in text
            if unicodedata.bidirectional(ch) in ("L", "R", "AL")
        ),
        "L",
    )
    base = 1 if first in _STRONG_RTL else 0
    types = _bidi_types(text, base)
    # I1/I2: embedding levels.
    levels = []
    for kind in types:
        if base == 0:
            levels.append({"R": 1, "AN": 2, "EN": 2}.get(kind, 0))
        else:
            levels.append(2 if kind in ("L", "EN", "AN") else 1)
    # L1: trailing whitespace goes back to the paragraph level.
    for i in range(len(text) - 1, -1, -1):
        if not text[i].isspace():
            break
        levels[i] = base
    # L4: mirrored brackets in right-to-left runs; L2: reverse runs from the highest level down.
    chars = [_MIRROR.get(ch, ch) if level % 2 else ch for ch, level in zip(text, levels)]
    for level in range(max(levels), 0, -1):  # down to the lowest odd level, 1
        i = 0
        while i < len(chars):
            if levels[i] >= level:
                j = i
                while j < len(chars) and levels[j] >= level:
                    j += 1
                chars[i:j] = chars[i:j][::-1]
                levels[i:j] = levels[i:j][::-1]
                i = j
            else:
                i += 1
    return "".join(chars)
