"""Uploaded files, checked by content before they reach Content storage.

A file's extension must be allowed and its first bytes must be what that extension means;
executables are refused whatever their name. Keys are content-addressed
(`assessments/{scope}/{sha256}/{name}`), so a retried submit writes the same object and
identical files are found by their hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from lms.assessments.errors import FileContentMismatch, FileTooLarge, FileTypeNotAllowed
from lms.errors import ValidationFailed
from lms.storage import get_storage

# What a file must start with, by extension (None: text, which must decode as UTF-8).
SIGNATURES: dict[str, tuple[bytes, ...] | None] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "zip": (b"PK\x03\x04",),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "pptx": (b"PK\x03\x04",),
    "odt": (b"PK\x03\x04",),
    "txt": None,
    "md": None,
    "py": None,
    "csv": None,
}
EXECUTABLE = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xca\xfe\xba\xbe")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def check(name: str, data: bytes, allowed: list[str], max_bytes: int) -> str:
    """The file's content type once its name and bytes agree; a clear code otherwise."""
    ext = extension(name)
    if ext not in SIGNATURES or (allowed and ext not in allowed):
        raise FileTypeNotAllowed(f"{name}: .{ext or '?'} files are not accepted here")
    if len(data) > max_bytes:
        raise FileTooLarge(f"{name} is over {max_bytes} bytes", maxBytes=max_bytes)
    if data.startswith(EXECUTABLE) or data.startswith(b"#!"):
        raise FileContentMismatch(f"{name} is a program, not a .{ext} file")
    signatures = SIGNATURES[ext]
    if signatures is None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileContentMismatch(f"{name} is not a text file") from None
        return "text/plain; charset=utf-8"
    if not data.startswith(signatures):
        raise FileContentMismatch(f"{name} is not a .{ext} file by its content")
    return {"pdf": "application/pdf", "png": "image/png", "gif": "image/gif"}.get(
        ext, "image/jpeg" if ext in ("jpg", "jpeg") else "application/octet-stream"
    )


def decode(raw: dict[str, Any]) -> tuple[str, bytes]:
    """Name and bytes of a `FileInput` (Ariadne hands `contentBase64` as `content_base_64`)."""
    name = _NAME.sub("_", str(raw.get("name") or "")).strip("._")[:120]
    if not name:
        raise ValidationFailed("a file needs a name", code="BAD_USER_INPUT", field="files")
    try:
        return name, base64.b64decode(raw.get("content_base_64") or "", validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            f"{name}: contentBase64 is not base64", code="BAD_USER_INPUT", field="files"
        ) from None


def store(scope: str, raw: dict[str, Any], allowed: list[str], max_bytes: int) -> dict[str, Any]:
    """Check one `FileInput` and put it in storage; returns what the submission records."""
    name, data = decode(raw)
    content_type = check(name, data, allowed, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    key = f"assessments/{scope}/{digest}/{name}"
    get_storage().put_bytes(key, data, content_type=content_type)
    return {
        "name": name,
        "key": key,
        "size": len(data),
        "content_type": content_type,
        "sha256": digest,
    }
