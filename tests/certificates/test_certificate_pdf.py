"""Certificate PDFs, read back the way a viewer would: pages, text, metadata, the QR code.

No PDF library is installed here, so ``PdfFile`` below is a minimal reader for ReportLab's
own output: it follows the xref table, decodes ASCII85/Flate streams and maps font codes to
text through each font's ToUnicode CMap (ReportLab subsets TrueType fonts, so the raw bytes
in a content stream are not the characters).
"""

import base64
import hashlib
import io
import logging
import re
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from reportlab.pdfbase.pdfmetrics import stringWidth

from certificates import CertificateData, new_certificate_code, render_certificate_pdf
from certificates.fonts import body, clean_text, heading
from certificates.layout import SIDE_MARGIN, layout_certificate
from certificates.qr import qr_modules

MAIN = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------------------
# A minimal reader for ReportLab PDFs


class PdfFile:
    def __init__(self, data: bytes):
        self.data = data
        start = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
        header = re.compile(rb"xref\s+0 (\d+)\s+").match(data, start)
        rows = data[header.end() : header.end() + 20 * int(header.group(1))]
        self.offsets = {n: int(rows[20 * n : 20 * n + 10]) for n in range(1, int(header.group(1)))}

    def head(self, number: int) -> bytes:
        """An object's text up to its stream, if any."""
        at, end = self.offsets[number], self.data.index(b"endobj", self.offsets[number])
        opening = re.compile(rb">>\s*stream\r?\n").search(self.data, at, end)
        return self.data[at : opening.start() + 2] if opening else self.data[at:end]

    def stream(self, number: int) -> bytes:
        """An object's stream, decoded."""
        at, head = self.offsets[number], self.head(number)
        opening = re.compile(rb">>\s*stream\r?\n").search(self.data, at)
        length = int(re.search(rb"/Length (\d+)", head).group(1))
        stream = self.data[opening.end() : opening.end() + length]
        for name in re.findall(rb"/(ASCII85Decode|FlateDecode)", head):
            if name == b"ASCII85Decode":
                stream = base64.a85decode(stream.strip().removesuffix(b"~>") + b"~>", adobe=True)
            else:
                stream = zlib.decompress(stream)
        return stream

    def objects_matching(self, pattern: bytes) -> list[int]:
        return [n for n in self.offsets if re.search(pattern, self.head(n))]

    @property
    def pages(self) -> list[int]:
        return self.objects_matching(rb"/Type /Page\b(?!s)")

    def media_box(self, page: int) -> list[float]:
        box = re.search(rb"/MediaBox \[([^\]]*)\]", self.head(page)).group(1)
        return [float(v) for v in box.split()]

    def content(self, page: int) -> bytes:
        ref = int(re.search(rb"/Contents (\d+) 0 R", self.head(page)).group(1))
        return self.stream(ref)

    def fonts(self, page: int) -> dict[bytes, dict[int, str] | None]:
        """Font resource name -> ToUnicode map (None for built-in fonts: WinAnsi text)."""
        head = self.head(page)
        ref = re.search(rb"/Font (\d+) 0 R", head)
        resources = self.head(int(ref.group(1))) if ref else head
        fonts = {}
        for name, number in re.findall(rb"/(F[\w+]+) (\d+) 0 R", resources):
            font = self.head(int(number))
            cmap = re.search(rb"/ToUnicode (\d+) 0 R", font)
            fonts[name] = self._cmap(int(cmap.group(1))) if cmap else None
        return fonts

    def _cmap(self, number: int) -> dict[int, str]:
        text = self.stream(number)
        mapping = {}
        for section in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
            for code, uni in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", section):
                mapping[int(code, 16)] = bytes.fromhex(uni.decode()).decode("utf-16-be")
        return mapping

    def text_blocks(self, page: int) -> list[str]:
        """The text of each BT ... ET block, in drawing order."""
        fonts = self.fonts(page)
        blocks, current, font = [], [], None
        for kind, value in tokens(self.content(page)):
            if kind == "op" and value == b"BT":
                current = []
            elif kind == "op" and value == b"ET":
                blocks.append("".join(current))
            elif kind == "name":
                font = value
            elif kind == "string":
                cmap = fonts[font]
                current.append(
                    value.decode("cp1252")
                    if cmap is None
                    else "".join(cmap.get(b, "\ufffd") for b in value)
                )
        return blocks

    def text(self, page: int) -> str:
        return "".join(self.text_blocks(page))

    def info(self) -> dict[str, str]:
        ref = int(
            re.search(rb"/Info (\d+) 0 R", self.data[self.data.rindex(b"trailer") :]).group(1)
        )
        head = self.head(ref)
        info, last_name = {}, None
        for kind, value in tokens(head):
            if kind == "name":
                last_name = value.decode()
            elif kind == "string" and last_name:
                info[last_name] = (
                    value[2:].decode("utf-16-be")
                    if value[:2] == b"\xfe\xff"
                    else value.decode("latin-1")
                )
                last_name = None
        return info

    def rectangles(self, page: int) -> list[tuple[float, ...]]:
        stack, rects = [], []
        for kind, value in tokens(self.content(page)):
            if kind == "number":
                stack.append(value)
            elif kind == "op":
                if value == b"re":
                    rects.append(tuple(stack[-4:]))
                stack = []
        return rects


TOKEN = re.compile(
    rb"\s*(?:(?P<string>\()|(?P<hex><[0-9A-Fa-f\s]*>)|/(?P<name>[^\s/()<>\[\]]+)"
    rb"|(?P<number>[-+]?\d*\.?\d+)(?![\w.])|(?P<op>[^\s/()<>\[\]]+)|(?P<other>.))",
    re.S,
)
ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


def tokens(data: bytes):
    """Yield (kind, value) for content-stream tokens: strings, hex, names, numbers, operators."""
    pos = 0
    while pos < len(data):
        match = TOKEN.match(data, pos)
        if match is None:
            return
        pos = match.end()
        if match.group("string"):
            value, pos = literal_string(data, pos)
            yield "string", value
        elif match.group("hex"):
            yield "string", bytes.fromhex(re.sub(rb"\s", b"", match.group("hex")[1:-1]).decode())
        elif match.group("name"):
            yield "name", match.group("name")
        elif match.group("number"):
            yield "number", float(match.group("number"))
        elif match.group("op"):
            yield "op", match.group("op")


def literal_string(data: bytes, pos: int) -> tuple[bytes, int]:
    out, depth = bytearray(), 1
    while True:
        ch = data[pos]
        pos += 1
        if ch == ord("\\"):
            nxt = data[pos]
            if chr(nxt) in "01234567":
                digits = re.match(rb"[0-7]{1,3}", data[pos : pos + 3]).group()
                out.append(int(digits, 8) & 0xFF)
                pos += len(digits)
                continue
            out += ESCAPES.get(nxt, bytes([nxt]))
            pos += 1
        elif ch == ord("("):
            depth += 1
            out.append(ch)
        elif ch == ord(")"):
            depth -= 1
            if depth == 0:
                return bytes(out), pos
            out.append(ch)
        else:
            out.append(ch)


# ----------------------------------------------------------------------------------------
# Fixtures

VERIFY = "https://lyceum.example/verify/"
ISSUED = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def certificate(**changes) -> CertificateData:
    values = dict(
        student_name="Ada Lovelace",
        course_title="Introduction to Distributed Systems",
        instructor_names=["Grace Hopper", "Alan Turing"],
        issued_at=ISSUED,
        certificate_code="LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA",
        verification_url=VERIFY + "LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA",
    )
    values.update(changes)
    return CertificateData(**values)


LONG_NAME = ("Maximiliana Wilhelmina Theodora von Hohenzollern-Sigmaringen " * 4)[:200]
LONG_TITLE = (
    "Advanced Topics in Probabilistic Graphical Models, Causal Inference and "
    "Reinforcement Learning for Working Data Scientists and Engineers"
)


@pytest.fixture(scope="module")
def pdf() -> PdfFile:
    return PdfFile(render_certificate_pdf(certificate()))


# ----------------------------------------------------------------------------------------
# The document


def test_is_a_pdf_of_one_landscape_a4_page(pdf):
    assert pdf.data.startswith(b"%PDF-")
    assert pdf.data.rstrip().endswith(b"%%EOF")
    assert len(pdf.pages) == 1
    x0, y0, width, height = pdf.media_box(pdf.pages[0])
    assert (x0, y0) == (0, 0)
    assert width == pytest.approx(841.89, abs=0.01) and height == pytest.approx(595.28, abs=0.01)


def test_letter_paper_is_landscape_letter():
    pdf = PdfFile(render_certificate_pdf(certificate(), paper="letter"))
    assert len(pdf.pages) == 1
    assert pdf.media_box(pdf.pages[0]) == [0, 0, 792, 612]


def test_unknown_paper_is_refused():
    with pytest.raises(ValueError):
        render_certificate_pdf(certificate(), paper="A3")  # type: ignore[arg-type]


def test_carries_everything_a_reader_compares_with_the_verification_page(pdf):
    text = pdf.text(pdf.pages[0])
    for expected in [
        "Certificate of Completion",
        "LYCEUM",
        "Ada Lovelace",
        "Introduction to Distributed Systems",
        "Instructors: Grace Hopper and Alan Turing",
        "3 March 2025",
        "LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA",
        VERIFY + "LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA",
    ]:
        assert expected in text, expected
    assert "version" not in text.lower()  # a first issue says nothing about versions


def test_uncompressed_copy_has_the_same_text():
    data = certificate()
    plain = PdfFile(render_certificate_pdf(data, compress=False))
    packed = PdfFile(render_certificate_pdf(data))
    content = int(re.search(rb"/Contents (\d+) 0 R", plain.head(plain.pages[0])).group(1))
    assert b"/FlateDecode" not in plain.head(content)
    assert plain.text(plain.pages[0]) == packed.text(packed.pages[0])


def test_regenerated_certificate_shows_its_version():
    pdf = PdfFile(render_certificate_pdf(certificate(version=3)))
    assert "Certificate ID \u00b7 version 3" in pdf.text(pdf.pages[0])


def test_single_instructor_and_none():
    one = PdfFile(render_certificate_pdf(certificate(instructor_names=["Grace Hopper"])))
    assert "Instructor: Grace Hopper" in one.text(one.pages[0])
    none = PdfFile(render_certificate_pdf(certificate(instructor_names=[])))
    assert "Instructor" not in none.text(none.pages[0])


def test_date_is_the_utc_day():
    late_evening_in_new_york = datetime(2025, 3, 3, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    pdf = PdfFile(render_certificate_pdf(certificate(issued_at=late_evening_in_new_york)))
    assert "4 March 2025" in pdf.text(pdf.pages[0])


def test_metadata_names_the_certificate(pdf):
    info = pdf.info()
    assert info["Title"] == "Certificate of Completion: Introduction to Distributed Systems"
    assert info["Author"] == "Lyceum"
    assert info["Subject"] == (
        "Awarded to Ada Lovelace, certificate LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA"
    )


def test_school_name_is_configurable():
    pdf = PdfFile(render_certificate_pdf(certificate(school_name="Lyceum Academy")))
    assert "LYCEUM ACADEMY" in pdf.text(pdf.pages[0])
    assert pdf.info()["Author"] == "Lyceum Academy"


def test_qr_code_drawn_on_the_page_is_the_verification_urls(pdf):
    data = certificate()
    layout = layout_certificate(data)
    qr = layout.qr
    expected = qr_modules(data.verification_url)
    module = qr.size / len(expected)
    drawn = [[False] * len(expected) for _ in expected]
    for x, y, w, h in pdf.rectangles(pdf.pages[0]):
        if not (qr.x - 0.01 <= x and x + w <= qr.x + qr.size + 0.01 and qr.y - 0.01 <= y):
            continue  # the page frames
        row = round((qr.y + qr.size - y - h) / module)
        for col in range(round((x - qr.x) / module), round((x + w - qr.x) / module)):
            drawn[row][col] = True
    assert drawn == expected


def test_clicking_the_qr_code_opens_the_verification_url(pdf):
    annotations = pdf.objects_matching(rb"/Subtype /Link")
    assert len(annotations) == 1
    assert f"/URI ({certificate().verification_url})".encode() in pdf.head(annotations[0])


# ----------------------------------------------------------------------------------------
# Deterministic output


def test_identical_input_gives_identical_bytes():
    data = certificate(student_name="Zoë Ångström")
    first = render_certificate_pdf(data)
    render_certificate_pdf(certificate(student_name="Someone Else", version=2))
    assert render_certificate_pdf(data) == first
    assert render_certificate_pdf(certificate(student_name="Zoë Ångström")) == first


def test_identical_input_gives_identical_bytes_in_a_fresh_process():
    script = (
        "import hashlib, sys\n"
        "from datetime import datetime, UTC\n"
        "from certificates import CertificateData, render_certificate_pdf\n"
        "data = CertificateData('Zoë Ångström', 'Course', ['A'], datetime(2025, 3, 3, tzinfo=UTC),"
        " 'LYC-1', 'https://x.example/v/1')\n"
        "sys.stdout.write(hashlib.sha256(render_certificate_pdf(data)).hexdigest())\n"
    )
    here = CertificateData(
        "Zoë Ångström",
        "Course",
        ["A"],
        datetime(2025, 3, 3, tzinfo=UTC),
        "LYC-1",
        "https://x.example/v/1",
    )
    there = subprocess.run(
        [sys.executable, "-c", script], cwd=MAIN, capture_output=True, text=True, check=True
    ).stdout
    assert there == hashlib.sha256(render_certificate_pdf(here)).hexdigest()


def test_different_codes_give_different_pdfs():
    assert render_certificate_pdf(
        certificate(certificate_code=new_certificate_code())
    ) != render_certificate_pdf(certificate(certificate_code=new_certificate_code()))


# ----------------------------------------------------------------------------------------
# Long and international names


@pytest.mark.parametrize("paper", ["A4", "letter"])
@pytest.mark.parametrize("name", [LONG_NAME, "W" * 200, "Zoë Ångström 李雷"])
def test_every_line_fits_inside_the_frame(paper, name):
    url = (
        "https://learn.lyceum-university.example.org/certificates/verify/"
        "LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA"
    )
    data = certificate(
        student_name=name,
        course_title=LONG_TITLE,
        verification_url=url,
        instructor_names=[f"Professor Number {i} Longname" for i in range(8)],
    )
    layout = layout_certificate(data, paper=paper)
    inner = layout.frames[-1].inset
    for line in layout.texts:
        # Measure independently: the font size times stringWidth of each font run.
        width = sum(stringWidth(run, font, line.size) for font, run in line.face.runs(line.text))
        assert width == pytest.approx(line.width)
        assert line.left >= inner + 4, line.text
        assert line.right <= layout.width - inner - 4, line.text
        assert inner + 4 <= line.y <= layout.height - inner - 4
    qr_top = layout.qr.y + layout.qr.size
    for line in (t for t in layout.texts if t.y > qr_top):
        # Everything above the bottom band keeps the side margins and clears the QR code.
        assert SIDE_MARGIN - 0.01 <= line.left and line.right <= layout.width - SIDE_MARGIN + 0.01
        assert line.y - 0.25 * line.size > qr_top, line.text


def test_long_name_shrinks_and_wraps_but_stays_legible():
    layout = layout_certificate(certificate(student_name=LONG_NAME))
    name_lines = [t for t in layout.texts if t.text and t.text in LONG_NAME]
    assert 2 <= len(name_lines) <= 3
    assert " ".join(t.text for t in name_lines) == clean_text(LONG_NAME)  # never truncated
    assert all(t.size >= 12 for t in name_lines)
    short = layout_certificate(certificate(student_name="Ada Lovelace"))
    (short_name,) = [t for t in short.texts if t.text == "Ada Lovelace"]
    assert short_name.size == 32 and all(t.size < 32 for t in name_lines)


def test_200_character_names_render():
    for name in (LONG_NAME, "W" * 200):
        pdf = PdfFile(render_certificate_pdf(certificate(student_name=name)))
        assert len(pdf.pages) == 1
        assert name.replace(" ", "") in pdf.text(pdf.pages[0]).replace(" ", "")


def test_accented_and_non_latin_names_render(caplog):
    with caplog.at_level(logging.WARNING, logger="certificates"):
        pdf = PdfFile(render_certificate_pdf(certificate(student_name="Zoë Ångström 李雷")))
    text = pdf.text(pdf.pages[0])
    assert "Zoë Ångström" in text
    if not heading().unprintable("李雷"):  # a CJK TrueType font is installed
        assert "Zoë Ångström 李雷" in text
    else:  # no font has these glyphs: visible stand-ins, and the operator is told why
        assert "Zoë Ångström ??" in text
        assert "U+674E" in caplog.text and "fonts-wqy-microhei" in caplog.text


def test_greek_and_cyrillic_names_print_exactly_when_dejavu_is_installed():
    assert "DejaVu" in heading().fonts[0], "scripts/bootstrap installs Debian's fonts-dejavu-core"
    name = "Σωκράτης Дмитрий Ōtani Łukasz"
    pdf = PdfFile(render_certificate_pdf(certificate(student_name=name)))
    assert name in pdf.text(pdf.pages[0])
    assert pdf.info()["Subject"].startswith(f"Awarded to {name},")


def test_line_breaks_and_stray_whitespace_in_names_are_flattened():
    pdf = PdfFile(render_certificate_pdf(certificate(student_name="  Ada\n\tKing  Lovelace ")))
    assert "Ada King Lovelace" in pdf.text(pdf.pages[0])


def test_without_truetype_fonts_built_in_fonts_print_substitutes(tmp_path):
    # What a host without DejaVu gets: Helvetica, WinAnsi only, and visible stand-ins.
    from reportlab.pdfgen.canvas import Canvas

    from certificates.fonts import Typeface

    helvetica = Typeface(("Helvetica",))
    assert helvetica.runs("Zoë Ōtani 李\u200d") == [("Helvetica", "Zoë Otani ?")]
    assert helvetica.unprintable("Zoë Ōtani 李") == {"Ō", "李"}
    canvas = Canvas(str(tmp_path / "builtin.pdf"))
    helvetica.draw(canvas, 300, 400, "Zoë Ōtani 李", 24)
    canvas.save()
    assert (tmp_path / "builtin.pdf").read_bytes().startswith(b"%PDF-")


def test_decomposed_accents_are_composed():
    assert body().runs("Zoe\u0308") == body().runs("Zoë")


# ----------------------------------------------------------------------------------------
# Input checks


def test_naive_issue_time_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        certificate(issued_at=datetime(2025, 3, 3, 12, 0))


@pytest.mark.parametrize(
    "field", ["student_name", "course_title", "certificate_code", "verification_url"]
)
def test_blank_required_fields_are_refused(field):
    with pytest.raises(ValueError, match=field):
        certificate(**{field: "  "})


def test_version_starts_at_one():
    with pytest.raises(ValueError):
        certificate(version=0)


# ----------------------------------------------------------------------------------------
# Read back with pypdf: embedded fonts, dates, images


def pypdf_reader(data: bytes):
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(data))


def font_descriptors(reader) -> dict[str, object]:
    """Every font a page uses (Type0 fonts through their descendants) -> its descriptor."""
    found = {}
    for page in reader.pages:
        for name, ref in page["/Resources"]["/Font"].items():
            font = ref.get_object()
            for part in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
                if part.get("/Subtype") != "/Type0":
                    descriptor = part.get("/FontDescriptor")
                    found[f"{name} {part.get('/BaseFont')}"] = (
                        descriptor and descriptor.get_object()
                    )
    return found


@pytest.mark.parametrize("name", ["Ada Lovelace", "Zoë Σωκράτης 李雷 \u2603 \U0001f600 \u0e01"])
def test_every_font_in_the_pdf_is_embedded(name):
    assert "DejaVu" in body().fonts[0], "scripts/bootstrap installs Debian's fonts-dejavu-core"
    reader = pypdf_reader(render_certificate_pdf(certificate(student_name=name)))
    fonts = font_descriptors(reader)
    assert fonts
    for font, descriptor in fonts.items():
        assert descriptor is not None, f"{font} is not embedded (no /FontDescriptor)"
        assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), f"{font} not embedded"


def test_creation_and_modification_dates_are_the_issue_time():
    issued = datetime(2025, 3, 3, 22, 30, 15, tzinfo=timezone(timedelta(hours=-5)))
    info = pypdf_reader(render_certificate_pdf(certificate(issued_at=issued))).metadata
    assert info.creation_date == issued and info.modification_date == issued
    assert info.creation_date.utcoffset() == timedelta(0)  # written in UTC
    assert info.title == "Certificate of Completion: Introduction to Distributed Systems"
    assert info.author == "Lyceum"
    assert info.subject.startswith("Awarded to Ada Lovelace, certificate LYC-")
    later = pypdf_reader(render_certificate_pdf(certificate(issued_at=ISSUED + timedelta(1))))
    assert later.metadata.creation_date == ISSUED + timedelta(days=1)


def png(size: tuple[int, int], mode: str = "RGBA", kind: str = "PNG") -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new(mode, size, (255, 255, 255, 0) if mode == "RGBA" else "white")
    ImageDraw.Draw(image).ellipse((2, 2, size[0] - 3, size[1] - 3), outline="navy", width=3)
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


SIGNATURE = png((300, 90))
SEAL = png((160, 160), mode="RGB", kind="JPEG")


def image_xobjects(data: bytes) -> list:
    reader = pypdf_reader(data)
    resources = reader.pages[0]["/Resources"]
    xobjects = resources.get("/XObject", {})
    return [x.get_object() for x in xobjects.values() if x.get_object()["/Subtype"] == "/Image"]


def test_signature_and_seal_are_drawn_as_two_images():
    data = certificate(signature_image=SIGNATURE, seal_image=SEAL)
    pdf_bytes = render_certificate_pdf(data)
    images = image_xobjects(pdf_bytes)
    assert len(images) == 2
    assert sorted((i["/Width"], i["/Height"]) for i in images) == [(160, 160), (300, 90)]
    assert render_certificate_pdf(data) == pdf_bytes  # still deterministic
    text = PdfFile(pdf_bytes).text(PdfFile(pdf_bytes).pages[0])
    assert "Instructors: Grace Hopper and Alan Turing" in text and "LYCEUM" in text


def test_without_images_there_are_none_and_the_layout_is_unchanged():
    assert image_xobjects(render_certificate_pdf(certificate())) == []
    assert layout_certificate(certificate()).images == []


def boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("paper", ["A4", "letter"])
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"student_name": LONG_NAME, "course_title": LONG_TITLE},
        {"school_name": "The Extraordinarily Long Named International School of Everything"},
        {"instructor_names": []},
    ],
)
def test_image_areas_keep_clear_of_text_and_the_qr_code(paper, changes):
    data = certificate(signature_image=SIGNATURE, seal_image=SEAL, **changes)
    layout = layout_certificate(data, paper=paper)
    signature, seal = sorted(layout.images, key=lambda i: i.kind)[::-1]
    assert (signature.kind, seal.kind) == ("signature", "seal")
    inner = layout.frames[-1].inset
    qr = layout.qr
    for image in layout.images:
        box = (image.x, image.y, image.x + image.width, image.y + image.height)
        assert inner + 4 <= box[0] and box[2] <= layout.width - inner - 4
        assert inner + 4 <= box[1] and box[3] <= layout.height - inner - 4
        assert not boxes_overlap(box, (qr.x, qr.y - 20, qr.x + qr.size, qr.y + qr.size))
        for line in layout.texts:
            # Generous glyph box: descenders to 0.25 em below, accents to 0.95 em above.
            text_box = (line.left, line.y - 0.25 * line.size, line.right, line.y + 0.95 * line.size)
            assert not boxes_overlap(box, text_box), (image.kind, line.text)
    # The seal sits in the top right corner; the signature above the instructors line.
    assert seal.x + seal.width > 0.85 * layout.width and seal.y > 0.75 * layout.height
    assert max(seal.width, seal.height) == pytest.approx(72)
    instructors = [t for t in layout.texts if t.text.startswith("Instructor")]
    if instructors:
        assert signature.y > instructors[0].y > signature.y - 30
    assert signature.height >= 22  # shrunk at most to half for long names, never dropped
    assert signature.width / signature.height == pytest.approx(300 / 90)


def test_invalid_image_bytes_are_refused_with_a_stable_code():
    from PIL import Image

    from certificates.data import CertificateImageError

    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    for field, bad in [
        ("signature_image", b"not an image"),
        ("seal_image", SIGNATURE[: len(SIGNATURE) // 2]),  # truncated
        ("seal_image", gif.getvalue()),
    ]:
        with pytest.raises(CertificateImageError, match=field) as caught:
            certificate(**{field: bad})
        assert caught.value.code == "INVALID_CERTIFICATE_IMAGE"
        assert isinstance(caught.value, ValueError)  # callers treating bad data alike still work
