"""Course cover images: checked by content on upload, resized to variants by a job.

Layout under the storage root (deterministic keys, so a re-run replaces rather than
duplicates, and deleting a course removes one folder):

    courses/{course_id}/cover/v{version}/original
    courses/{course_id}/cover/v{version}/cover-{width}.{webp,jpg}

Each new upload gets the next version, so a slow job for an old upload can never overwrite
the variants of a newer one.
"""

from __future__ import annotations

import io
import uuid
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from lms.config import Settings
from lms.courses.rules import invalid
from lms.errors import LmsError

COVER_WIDTHS = (1280, 640, 320)
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
MAX_PIXELS = 50_000_000  # the media library's limit too: more than any cover needs
MIN_SIDE = 200


def storage_root(settings: Settings) -> Path:
    """The local storage folder (`LMS_STORAGE_URL=file:…`, by default `var/storage`)."""
    if not settings.storage_url.startswith("file:"):
        raise LmsError("cover images need local file storage for now", code="STORAGE_UNAVAILABLE")
    return Path(settings.storage_url.removeprefix("file:").removeprefix("//"))


def course_dir(settings: Settings, course_id: uuid.UUID | str) -> Path:
    return storage_root(settings) / "courses" / str(uuid.UUID(str(course_id)))


def cover_dir(settings: Settings, course_id: uuid.UUID | str, version: int) -> Path:
    return course_dir(settings, course_id) / "cover" / f"v{int(version)}"


def storage_key(settings: Settings, path: Path) -> str:
    return path.relative_to(storage_root(settings)).as_posix()


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
            "INVALID_IMAGE", "the file is not a JPEG, PNG, WebP or GIF image", field
        ) from None
    if fmt not in ALLOWED_FORMATS:
        raise invalid(
            "INVALID_IMAGE", f"{fmt} images are not accepted; use JPEG, PNG, WebP or GIF", field
        )
    if width * height > MAX_PIXELS:
        raise invalid(
            "INVALID_IMAGE", f"the image is {width}x{height}, over {MAX_PIXELS} pixels", field
        )
    if min(width, height) < MIN_SIDE:
        raise invalid(
            "IMAGE_TOO_SMALL",
            f"covers are at least {MIN_SIDE}x{MIN_SIDE} pixels",
            field,
            minSide=MIN_SIDE,
        )
    return fmt, width, height


def save_original(settings: Settings, course_id: uuid.UUID, version: int, data: bytes) -> Path:
    """Write the upload where the resize job will read it."""
    folder = cover_dir(settings, course_id, version)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "original"
    temporary = folder / ".original.part"
    temporary.write_bytes(data)
    temporary.replace(path)  # the job never sees half a file
    return path
