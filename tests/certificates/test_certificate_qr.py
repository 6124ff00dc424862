"""QR codes of verification URLs: a real PNG of the right matrix, at error correction M."""

import io
import shutil
import subprocess

import pytest
from PIL import Image

from certificates import qr_png
from certificates.qr import QUIET_ZONE, qr_modules

URL = "https://lyceum.example/verify/LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA"


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("L")


def test_png_is_a_square_image_of_reasonable_size():
    image = open_png(qr_png(URL))
    width, height = image.size
    assert width == height
    assert 200 <= width <= 1000  # about 40 modules of 10 px, plus the quiet zone


def test_box_size_sets_pixels_per_module():
    modules = len(qr_modules(URL)) + 2 * QUIET_ZONE
    assert open_png(qr_png(URL, box_size=3)).size == (3 * modules, 3 * modules)
    assert open_png(qr_png(URL, box_size=12)).size == (12 * modules, 12 * modules)


def test_png_shows_the_same_modules_the_pdf_draws():
    box = 6
    image = open_png(qr_png(URL, box_size=box))
    matrix = qr_modules(URL)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            centre = ((QUIET_ZONE + c) * box + box // 2, (QUIET_ZONE + r) * box + box // 2)
            assert (image.getpixel(centre) < 128) == dark, (r, c)
    # The quiet zone is white all round.
    assert image.getpixel((1, 1)) == 255
    assert image.getpixel((image.width - 2, image.height - 2)) == 255


def error_correction_level(matrix: list[list[bool]]) -> str:
    """Read the error correction level from the format bits beside the top-left finder."""
    # Bits 14 and 13 of the format string sit at (row 8, col 0) and (row 8, col 1), masked
    # with 0b10 (ISO/IEC 18004, 7.9): L=01, M=00, Q=11, H=10.
    bits = (int(matrix[8][0]) ^ 1) << 1 | int(matrix[8][1])
    return {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}[bits]


def test_error_correction_is_level_m():
    import qrcode
    from qrcode import constants

    # Check the reader on symbols of known levels first, so the assertion below means something.
    for level, name in [
        (constants.ERROR_CORRECT_L, "L"),
        (constants.ERROR_CORRECT_Q, "Q"),
        (constants.ERROR_CORRECT_H, "H"),
    ]:
        code = qrcode.QRCode(error_correction=level, border=0)
        code.add_data(URL)
        code.make(fit=True)
        assert error_correction_level(code.get_matrix()) == name
    assert error_correction_level(qr_modules(URL)) == "M"


def test_qr_of_an_empty_url_is_refused():
    with pytest.raises(ValueError):
        qr_png("")


def test_png_decodes_back_to_the_url_when_a_decoder_is_installed(tmp_path):
    # Decoding is a bonus: use pyzbar or zbarimg if this machine has one; never install one.
    data = qr_png(URL)
    try:
        from pyzbar.pyzbar import decode
    except ImportError:
        decode = None
    if decode is not None:
        assert [r.data.decode() for r in decode(Image.open(io.BytesIO(data)))] == [URL]
        return
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg missing: scripts/bootstrap installs Debian's zbar-tools"
    path = tmp_path / "qr.png"
    path.write_bytes(data)
    out = subprocess.run(
        [zbarimg, "--raw", "-q", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == URL
