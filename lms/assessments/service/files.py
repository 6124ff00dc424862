"""Files of assignment submissions and quiz file responses.

A student uploads through the Content module (`uploadSubmissionFile`, a signed PUT,
`completeUpload`, its content check) and submits the file asset's id. It must be theirs, for
this course, and checked READY; its extension must be allowed here, its detected type must
be what the extension means, and its bytes are checked again as they are copied; executables
are refused whatever their name. Copies are content-addressed
(`assessments/{scope}/{sha256}/{name}`), so a retried submit writes the same object and
identical files are found by their hash.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy.orm import Session

from lms.assessments.errors import (
    FileContentMismatch,
    FileNotReady,
    FileTooLarge,
    FileTypeNotAllowed,
)
from lms.content import service as content
from lms.security import Viewer
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
_TEXT = ("text/plain", "text/markdown", "text/csv")
_OOXML = "application/vnd.openxmlformats-officedocument."
# What the Content module's check may have found the bytes to be, by extension.
DETECTED: dict[str, tuple[str, ...]] = {
    "pdf": ("application/pdf",),
    "png": ("image/png",),
    "jpg": ("image/jpeg",),
    "jpeg": ("image/jpeg",),
    "gif": ("image/gif",),
    "zip": ("application/zip",),
    "docx": (_OOXML + "wordprocessingml.document",),
    "xlsx": (_OOXML + "spreadsheetml.sheet",),
    "pptx": (_OOXML + "presentationml.presentation",),
    "odt": ("application/vnd.oasis.opendocument.text",),
    "txt": _TEXT,
    "md": _TEXT,
    "py": _TEXT,
    "csv": _TEXT,
}
EXECUTABLE = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xca\xfe\xba\xbe")


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


def checked(
    session: Session,
    viewer: Viewer,
    file_asset_id: Any,
    *,
    course_id: uuid.UUID,
    allowed: list[str],
    max_bytes: int,
) -> tuple[str, bytes, str]:
    """Name, bytes and detected type of the viewer's own upload (`uploadSubmissionFile`) once
    the Content module's content check passed, and its bytes agree with its name here too."""
    asset = content.own_submission_file(session, viewer, id=file_asset_id, course_id=course_id)
    name = asset["file_name"]
    ext = extension(name)
    if ext not in SIGNATURES or (allowed and ext not in allowed):
        raise FileTypeNotAllowed(f"{name}: .{ext or '?'} files are not accepted here")
    if asset["status"] == "FAILED" and asset["error_code"] == "FILE_TOO_LARGE":
        raise FileTooLarge(f"{name} is too large", maxBytes=max_bytes)
    if asset["status"] == "FAILED":
        raise FileContentMismatch(
            f"{name} did not pass the content check", checkCode=asset["error_code"]
        )
    if asset["status"] != "READY":
        raise FileNotReady(f"{name} is still being checked; try again in a moment")
    if asset["size_bytes"] > max_bytes:
        raise FileTooLarge(f"{name} is over {max_bytes} bytes", maxBytes=max_bytes)
    if asset["detected_type"] not in DETECTED.get(ext, ()):
        raise FileContentMismatch(f"{name} is not a .{ext} file by its content")
    # The copy we keep is checked again: the bytes are what the name says, whatever happened
    # to the uploaded object after its check.
    data = get_storage().read_bytes(asset["key"])
    check(name, data, allowed, max_bytes)
    return name, data, asset["detected_type"]


def store(scope: str, name: str, data: bytes, content_type: str, file_asset_id: Any) -> dict:
    """Keep a checked file under a content-addressed key of our own (the student may delete the
    upload later); returns what the submission records."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"assessments/{scope}/{digest}/{name}"
    get_storage().put_bytes(key, data, content_type=content_type)
    return {
        "name": name,
        "key": key,
        "size": len(data),
        "content_type": content_type,
        "sha256": digest,
        "file_asset_id": str(file_asset_id),
    }
