"""Where everything goes on the page, decided before anything is drawn.

Keeping positions as plain data (no canvas) lets tests check that nothing leaves the page
and lets the PDF writer stay a dumb loop. Units are PDF points, origin bottom-left.

The page, top to bottom: school name, title, then a centred block (the student's name, the
course, the instructors) and a bottom band with the issue date, the certificate id and the
QR code of the verification URL with the URL printed under it. An optional signature image
goes between the course and the instructors line (its caption); an optional seal sits in
the top right corner, and the school name narrows to stay clear of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reportlab.lib.pagesizes import A4, landscape, letter

from certificates.data import CertificateData, check_image
from certificates.fitting import fit_lines
from certificates.fonts import Align, Typeface, body, body_bold, heading, script
from certificates.qr import qr_modules

__all__ = [
    "Paper",
    "TextLine",
    "Rule",
    "Frame",
    "QrCode",
    "ImageBox",
    "CertificateLayout",
    "page_size",
    "layout_certificate",
]

Paper = Literal["A4", "letter"]

INK = "#1B2A41"  # navy, for what matters
GOLD = "#A67C2E"  # accents
MUTED = "#5A6270"  # connecting phrases and labels

TITLE = "Certificate of Completion"
SIDE_MARGIN = 84.0  # text never comes closer to the page edge than this
QR_SIZE = 84.0  # ~3 cm: scans from arm's length, still modest on the page
SIGNATURE_BOX = (180.0, 44.0)  # largest signature drawn (width, height); aspect is kept
SEAL_BOX = 72.0  # 1 inch: the seal's largest side
SEAL_INSET = 40.0  # from the page edges, inside the frames (inner frame at 26)


@dataclass(frozen=True)
class TextLine:
    text: str
    face: Typeface
    size: float
    x: float
    y: float  # baseline
    align: Align = "center"
    color: str = INK

    @property
    def width(self) -> float:
        return self.face.width(self.text, self.size)

    @property
    def left(self) -> float:
        return self.x - {"left": 0.0, "center": self.width / 2, "right": self.width}[self.align]

    @property
    def right(self) -> float:
        return self.left + self.width


@dataclass(frozen=True)
class Rule:
    x1: float
    x2: float
    y: float
    thickness: float = 0.6
    color: str = GOLD


@dataclass(frozen=True)
class Frame:
    inset: float
    thickness: float
    color: str


@dataclass(frozen=True)
class QrCode:
    x: float  # bottom-left corner of the symbol (quiet zone lies outside)
    y: float
    size: float
    modules: list[list[bool]]
    url: str


@dataclass(frozen=True)
class ImageBox:
    kind: Literal["signature", "seal"]
    data: bytes = field(repr=False)
    x: float  # bottom-left corner
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class CertificateLayout:
    width: float
    height: float
    frames: list[Frame]
    rules: list[Rule]
    texts: list[TextLine]
    qr: QrCode
    images: list[ImageBox] = field(default_factory=list)


def page_size(paper: Paper) -> tuple[float, float]:
    """Landscape page size in points."""
    sizes = {"a4": A4, "letter": letter}
    try:
        return landscape(sizes[paper.lower()])
    except KeyError:
        raise ValueError(f"unknown paper {paper!r}; use 'A4' or 'letter'") from None


def layout_certificate(data: CertificateData, *, paper: Paper = "A4") -> CertificateLayout:
    """Position every element of the certificate for ``paper``."""
    width, height = page_size(paper)
    cx = width / 2
    content = width - 2 * SIDE_MARGIN
    texts: list[TextLine] = []
    rules: list[Rule] = []
    images: list[ImageBox] = []

    school_width = content
    if data.seal_image is not None:
        w, h = _fitted(data.seal_image, SEAL_BOX, SEAL_BOX)
        seal = ImageBox(
            "seal", data.seal_image, width - SEAL_INSET - w, height - SEAL_INSET - h, w, h
        )
        images.append(seal)
        school_width = min(content, 2 * (seal.x - 8 - cx))  # centred, so narrow on both sides
    school_size, (school,) = fit_lines(
        body_bold(), data.school_name.upper(), max_width=school_width, max_size=13, min_size=8
    )
    texts.append(TextLine(school, body_bold(), school_size, cx, height - 80, color=GOLD))
    title_y = height - 128
    texts.append(TextLine(TITLE, heading(), 34, cx, title_y))
    rules.append(Rule(cx - 70, cx + 70, title_y - 18, thickness=1.2))

    band_texts, band_rules, qr = _bottom_band(data, width)
    texts += band_texts
    rules += band_rules

    # The middle block is stacked at y = 0 downwards, then centred between title and band.
    region_top, region_bottom = title_y - 36, qr.y + qr.size + 14
    signature = _fitted(data.signature_image, *SIGNATURE_BOX) if data.signature_image else None
    block, block_rules, block_height, sign_at = _middle_block(data, cx, content, signature)
    if signature and block_height > region_top - region_bottom:
        # Long names and titles come first: the signature shrinks (to half) to make room.
        scale = max(0.5, 1 - (block_height - region_top + region_bottom) / signature[1])
        signature = (signature[0] * scale, signature[1] * scale)
        block, block_rules, block_height, sign_at = _middle_block(data, cx, content, signature)
    # Spare room goes 40% above, 60% below: optically centred, the band below looks heavier.
    shift = region_top - max(0.0, 0.4 * (region_top - region_bottom - block_height))
    texts += [_moved(t, shift) for t in block]
    rules += [Rule(r.x1, r.x2, r.y + shift, r.thickness, r.color) for r in block_rules]
    if signature and data.signature_image is not None:
        w, h = signature
        images.append(
            ImageBox("signature", data.signature_image, cx - w / 2, sign_at + shift, w, h)
        )

    frames = [Frame(18, 2.4, INK), Frame(26, 0.8, GOLD)]
    return CertificateLayout(width, height, frames, rules, texts, qr, images)


def _fitted(image: bytes, max_width: float, max_height: float) -> tuple[float, float]:
    """The largest (width, height) within the box with the image's aspect ratio."""
    pixels_w, pixels_h = check_image(image)
    scale = min(max_width / pixels_w, max_height / pixels_h)
    return pixels_w * scale, pixels_h * scale


def _middle_block(
    data: CertificateData, cx: float, content: float, signature: tuple[float, float] | None
) -> tuple[list[TextLine], list[Rule], float, float]:
    """Lines, rules, height and the bottom of the signature's area (all relative to y = 0)."""
    texts: list[TextLine] = []
    rules: list[Rule] = []
    y = 0.0  # baseline of the last line placed; we walk downwards

    def stack(
        face: Typeface,
        text: str,
        *,
        gap: float,
        max_size: float,
        min_size: float,
        max_lines: int,
        color: str,
    ) -> tuple[float, list[str]]:
        nonlocal y
        size, lines = fit_lines(
            face, text, max_width=content, max_size=max_size, min_size=min_size, max_lines=max_lines
        )
        y -= gap + 0.8 * size  # 0.8 em: roughly the ascent of the first line
        for i, line in enumerate(lines):
            if i:
                y -= 1.18 * size
            texts.append(TextLine(line, face, size, cx, y, color=color))
        return size, lines

    stack(
        script(), "This certifies that", gap=0, max_size=15, min_size=15, max_lines=1, color=MUTED
    )
    name_size, name_lines = stack(
        heading(), data.student_name, gap=14, max_size=32, min_size=18, max_lines=3, color=INK
    )
    widest = max(heading().width(line, name_size) for line in name_lines)
    half = min(content, max(0.45 * content, widest + 40)) / 2
    y -= 0.3 * name_size + 6
    rules.append(Rule(cx - half, cx + half, y))
    stack(
        script(),
        "has successfully completed the course",
        gap=14,
        max_size=15,
        min_size=15,
        max_lines=1,
        color=MUTED,
    )
    course_size, _ = stack(
        heading(), data.course_title, gap=10, max_size=24, min_size=14, max_lines=2, color=INK
    )
    sign_at = 0.0
    if signature:
        # Clear of the course's descenders above; the instructors line below is its caption.
        y -= 0.25 * course_size + 8 + signature[1]
        sign_at = y
    if data.instructors_line:
        stack(
            body(), data.instructors_line, gap=12, max_size=12, min_size=9, max_lines=2, color=MUTED
        )
    return texts, rules, -y + 4, sign_at  # + a descender's worth below the last baseline


def _bottom_band(data: CertificateData, width: float) -> tuple[list[TextLine], list[Rule], QrCode]:
    """Three columns: issue date, certificate id, QR code with the URL under it."""
    texts: list[TextLine] = []
    rules: list[Rule] = []
    value_y, rule_y, label_y = 96.0, 88.0, 76.0

    columns = (
        (0.20 * width, 0.22 * width, data.issued_on, "Date of issue"),
        (
            0.50 * width,
            0.32 * width,
            data.certificate_code,
            "Certificate ID" + (f" \u00b7 version {data.version}" if data.version > 1 else ""),
        ),
    )
    for centre, col_width, value, label in columns:
        size, (line,) = fit_lines(body(), value, max_width=col_width, max_size=12, min_size=6)
        texts.append(TextLine(line, body(), size, centre, value_y))
        rules.append(Rule(centre - col_width / 2, centre + col_width / 2, rule_y))
        texts.append(TextLine(label, body(), 8.5, centre, label_y, color=MUTED))

    qr_centre, qr_y = 0.80 * width, 62.0
    qr = QrCode(
        qr_centre - QR_SIZE / 2,
        qr_y,
        QR_SIZE,
        qr_modules(data.verification_url),
        data.verification_url,
    )
    url_size, url_lines = fit_lines(
        body(),
        data.verification_url,
        max_width=0.26 * width,
        max_size=7.5,
        min_size=6.5,
        max_lines=2,
        url=True,
    )
    for i, line in enumerate(url_lines):
        texts.append(
            TextLine(
                line, body(), url_size, qr_centre, qr_y - 11 - i * 1.25 * url_size, color=MUTED
            )
        )
    return texts, rules, qr


def _moved(line: TextLine, dy: float) -> TextLine:
    return TextLine(line.text, line.face, line.size, line.x, line.y + dy, line.align, line.color)
