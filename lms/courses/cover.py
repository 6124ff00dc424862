"""Course cover images: checked by content on upload, resized to variants by a job.

Storage keys (`lms.storage`, local folder or S3; deterministic, so a re-run replaces rather
than duplicates, and deleting a course removes one prefix):

    courses/{course_id}/cover/v{version}/original
    courses/{course_id}/cover/v{version}/cover-{width}.{webp,jpg}

Each new upload gets the next version, so a slow job for an old upload can never overwrite
the variants of a newer one.
"""

from __future__ import annotations

import io
import uuid
import warnings

from PIL import Image, UnidentifiedImageError

from lms.config import Settings
from lms.courses.errors import CourseCode
from lms.courses.rules import invalid
from lms.storage import get_storage, signing

COVER_WIDTHS = (1280, 640, 320)
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
MAX_PIXELS = 50_000_000  # the media library's limit too: more than any cover needs
MIN_SIDE = 200


def course_prefix(course_id: uuid.UUID | str) -> str:
    return f"courses/{uuid.UUID(str(course_id))}/"


def covers_prefix(course_id: uuid.UUID | str) -> str:
    return f"{course_prefix(course_id)}cover/"


def cover_prefix(course_id: uuid.UUID | str, version: int) -> str:
    return f"{covers_prefix(course_id)}v{int(version)}/"


def cover_version(key: str) -> int | None:
    """The version of a key under `courses/{id}/cover/v{n}/…`, None for anything else."""
    parts = key.split("/")
    folder = parts[3] if len(parts) > 4 else ""
    return int(folder[1:]) if folder.startswith("v") and folder[1:].isdigit() else None


def variant_url(key: str, settings: Settings) -> str:
    """A signed, expiring link to one variant (presigned on S3, served by the API locally)."""
    return signing.file_url(key, settings.image_url_minutes * 60, settings=settings)[0]


def check_image(data: bytes, *, field: str = "coverImageDataUrl") -> tuple[str, int, int]:
    """Format and size of an uploaded image, judged by its content; `INVALID_IMAGE` otherwise.

    Only the header is decoded here (cheap, in the request); the job decodes it fully.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                img.verify()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise invalid(
            CourseCode.INVALID_IMAGE, "the file is not a JPEG, PNG, WebP or GIF image", field
        ) from None
    if fmt not in ALLOWED_FORMATS:
        raise invalid(
            CourseCode.INVALID_IMAGE,
            f"{fmt} images are not accepted; use JPEG, PNG, WebP or GIF",
            field,
        )
    if width * height > MAX_PIXELS:
        raise invalid(
            CourseCode.INVALID_IMAGE,
            f"the image is {width}x{height}, over {MAX_PIXELS} pixels",
            field,
        )
    if min(width, height) < MIN_SIDE:
        raise invalid(
            CourseCode.IMAGE_TOO_SMALL,
            f"covers are at least {MIN_SIDE}x{MIN_SIDE} pixels",
            field,
            minSide=MIN_SIDE,
        )
    return fmt, width, height


def save_original(settings: Settings, course_id: uuid.UUID, version: int, data: bytes) -> str:
    """Store the upload where the resize job (maybe on another host) will read it."""
    key = cover_prefix(course_id, version) + "original"
    get_storage(settings).put_bytes(key, data, content_type="application/octet-stream")
    return key
