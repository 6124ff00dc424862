"""QR codes for certificate verification URLs.

Error correction level M (about 15% of the symbol can be lost) survives a crease or a
coffee stain on paper without making the symbol much denser than level L.
"""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage

__all__ = ["qr_png", "qr_modules"]

QUIET_ZONE = 4  # modules of white border that the QR standard requires around the symbol


def _build(url: str) -> qrcode.QRCode:
    if not url:
        raise ValueError("a QR code needs a non-empty URL")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET_ZONE)
    code.add_data(url)
    code.make(fit=True)  # smallest version that holds the URL
    return code


def qr_png(url: str, *, box_size: int = 10) -> bytes:
    """Return a black-on-white PNG of the QR code for ``url``, ``box_size`` pixels per module."""
    if box_size < 1:
        raise ValueError("box_size must be at least 1 pixel")
    code = _build(url)
    code.box_size = box_size
    image = code.make_image(image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer)  # PilImage writes PNG by default
    return buffer.getvalue()


def qr_modules(url: str) -> list[list[bool]]:
    """Return the QR matrix for ``url`` without its quiet zone (True = dark module).

    The PDF draws these as vector squares, which stay sharp at any print resolution.
    """
    code = _build(url)
    matrix = code.get_matrix()  # includes the border
    inner = matrix[QUIET_ZONE : len(matrix) - QUIET_ZONE]
    return [list(row[QUIET_ZONE : len(row) - QUIET_ZONE]) for row in inner]
