"""Certificate PDFs: one landscape page drawn with ReportLab's canvas.

Output is byte-for-byte deterministic for identical input (``invariant=1`` pins the
document id; font subsets are named in order of use; the creation and modification dates
are the certificate's issue time, not the clock), so a re-run job rewrites the same file and
caches and checksums stay valid. Every font drawn is embedded when TrueType fonts are
installed (see ``certificates.fonts``), so the paper looks the same in every viewer.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC

from reportlab.lib.colors import HexColor
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from certificates.data import CertificateData
from certificates.fonts import body
from certificates.layout import (
    TITLE,
    CertificateLayout,
    ImageBox,
    Paper,
    QrCode,
    layout_certificate,
)

__all__ = ["CertificateData", "Paper", "render_certificate_pdf"]

log = logging.getLogger(__name__)


def render_certificate_pdf(
    data: CertificateData, *, paper: Paper = "A4", compress: bool = True
) -> bytes:
    """Return the certificate as PDF bytes.

    ``compress=False`` leaves content streams readable, for debugging and tests.
    """
    layout = layout_certificate(data, paper=paper)
    _warn_about_substitutes(layout)

    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(layout.width, layout.height),
        invariant=1,
        pageCompression=1 if compress else 0,
        # The default initial font is Helvetica, which every page then references unembedded.
        initialFontName=body().fonts[0],
    )
    issued = data.issued_at.astimezone(UTC)
    # ReportLab passes its (invariant) timestamp; /CreationDate and /ModDate print this instead.
    canvas.setDateFormatter(lambda *_clock: issued.strftime("D:%Y%m%d%H%M%S+00'00'"))
    canvas.setTitle(f"{TITLE}: {data.course_title}")
    canvas.setAuthor(data.school_name)
    canvas.setSubject(f"Awarded to {data.student_name}, certificate {data.certificate_code}")
    canvas.setKeywords([data.certificate_code, data.verification_url])
    canvas.setCreator(f"{data.school_name} certificates")
    _draw(canvas, layout)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw(canvas: Canvas, layout: CertificateLayout) -> None:
    for frame in layout.frames:
        canvas.setStrokeColor(HexColor(frame.color))
        canvas.setLineWidth(frame.thickness)
        canvas.rect(
            frame.inset,
            frame.inset,
            layout.width - 2 * frame.inset,
            layout.height - 2 * frame.inset,
            stroke=1,
            fill=0,
        )
    for rule in layout.rules:
        canvas.setStrokeColor(HexColor(rule.color))
        canvas.setLineWidth(rule.thickness)
        canvas.line(rule.x1, rule.y, rule.x2, rule.y)
    for text in layout.texts:
        canvas.setFillColor(HexColor(text.color))
        text.face.draw(canvas, text.x, text.y, text.text, text.size, text.align)
    _draw_qr(canvas, layout.qr)
    for image in layout.images:
        _draw_image(canvas, image)


def _draw_image(canvas: Canvas, image: ImageBox) -> None:
    # mask="auto" keeps a PNG's transparency, so a signature does not sit on a white block.
    canvas.drawImage(
        ImageReader(io.BytesIO(image.data)),
        image.x,
        image.y,
        image.width,
        image.height,
        mask="auto",
    )


def _draw_qr(canvas: Canvas, qr: QrCode) -> None:
    """Draw the QR symbol as vector squares (sharp at any print resolution) and link it."""
    module = qr.size / len(qr.modules)
    path = canvas.beginPath()
    for row, cells in enumerate(qr.modules):
        y = qr.y + qr.size - (row + 1) * module
        col = 0
        while col < len(cells):  # one rectangle per horizontal run keeps the file small
            if not cells[col]:
                col += 1
                continue
            start = col
            while col < len(cells) and cells[col]:
                col += 1
            path.rect(qr.x + start * module, y, (col - start) * module, module)
    canvas.setFillColor(HexColor("#000000"))
    canvas.drawPath(path, stroke=0, fill=1)
    # Clicking the code (or the URL under it) in a PDF viewer opens the verification page.
    canvas.linkURL(
        qr.url, (qr.x, qr.y - 16, qr.x + qr.size, qr.y + qr.size), relative=0, thickness=0
    )


def _warn_about_substitutes(layout: CertificateLayout) -> None:
    missing = sorted({ch for t in layout.texts for ch in t.face.unprintable(t.text)})
    if missing:
        log.warning(
            "certificate printed substitutes for characters no installed font has: %s "
            "(install a TrueType font covering them, e.g. fonts-wqy-microhei for CJK)",
            ", ".join(f"U+{ord(ch):04X}" for ch in missing),
        )
