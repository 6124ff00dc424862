"""What a course resource really is, from its first bytes (never from its name).

Returns a MIME type from a closed list, or None for anything we do not accept (HTML, SVG,
scripts, executables, unknown binaries).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
_OOXML = {
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_ODF = {
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
}
TEXT_TYPES = {"text/plain", "text/markdown", "text/csv"}


def sniff(path: Path, declared: str) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: legacy Office
        return (
            declared
            if declared
            in ("application/vnd.ms-powerpoint", "application/msword", "application/vnd.ms-excel")
            else "application/vnd.ms-office"
        )
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head and _is_text(head):
        return declared if declared in TEXT_TYPES else "text/plain"
    return None


def _zip_kind(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                kind = archive.read("mimetype").decode("ascii", "replace").strip()
                if kind in _ODF:
                    return kind
            if "[Content_Types].xml" in names:
                for prefix, kind in _OOXML.items():
                    if any(name.startswith(prefix) for name in names):
                        return kind
    except (zipfile.BadZipFile, OSError, io.UnsupportedOperation):
        return None
    return "application/zip"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    sample = head.lstrip().lower()
    if sample.startswith((b"<!doctype html", b"<html", b"<svg", b"<?xml", b"<script")):
        return False  # active content is never served back from our origin
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # a cut multi-byte character at the end is fine
            return False
    return True
