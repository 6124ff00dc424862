"""Avatar uploads: a base64 data URL checked by its content (Pillow), stored, resized by a job.

Files go through `lms.storage` (local folder or S3) under `avatars/{user_id}/{upload}/`:
`original`, then `avatar-{size}.{webp,jpg}` written by the job; links come from
`lms.storage.signing`.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import uuid
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from sqlalchemy import update

from lms.config import Settings, get_settings
from lms.errors import ValidationFailed
from lms.storage import get_storage, signing
from lms.users.errors import UserCode
from lms.users.models import AvatarStatus, User

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
MAX_PIXELS = 25_000_000  # decoded size cap: a small file must not decode to gigapixels
SIZES = (256, 128, 64)  # square, pixels
FORMATS = ("webp", "jpg")
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII
)


@dataclass(frozen=True)
class AvatarUpload:
    data: bytes
    format: str
    width: int
    height: int


def parse_data_url(value: str, settings: Settings | None = None) -> AvatarUpload:
    """Decode and check an avatar: size first (cheap), then Pillow's view of the content.

    The declared MIME type is ignored: only what Pillow recognises counts.
    """
    settings = settings or get_settings()
    match = _DATA_URL.match(value)
    if match is None:
        raise ValidationFailed(
            "the avatar must be a base64 data URL (data:image/png;base64,…)",
            code=UserCode.AVATAR_NOT_AN_IMAGE,
        )
    encoded = value[match.end() :].strip()
    limit = settings.avatar_max_bytes
    if len(encoded) * 3 // 4 > limit + 3:
        raise ValidationFailed(
            f"the avatar is over {limit} bytes", code=UserCode.AVATAR_TOO_LARGE, maxBytes=limit
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            "the avatar is not valid base64", code=UserCode.AVATAR_NOT_AN_IMAGE
        ) from None
    if len(data) > limit:
        raise ValidationFailed(
            f"the avatar is over {limit} bytes", code=UserCode.AVATAR_TOO_LARGE, maxBytes=limit
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height) = img.format, img.size
            if fmt not in ALLOWED_FORMATS:
                raise ValidationFailed(
                    f"avatars must be JPEG, PNG, WebP or GIF, not {fmt}",
                    code=UserCode.AVATAR_NOT_AN_IMAGE,
                )
            if width * height > MAX_PIXELS:
                raise ValidationFailed(
                    f"the avatar is {width}x{height}; at most {MAX_PIXELS} pixels",
                    code=UserCode.AVATAR_TOO_LARGE,
                    maxPixels=MAX_PIXELS,
                )
            img.verify()  # structure and checksums, without decoding the pixels here
    except ValidationFailed:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
    ):
        raise ValidationFailed(
            "the avatar is not a readable image", code=UserCode.AVATAR_NOT_AN_IMAGE
        ) from None
    return AvatarUpload(data, fmt, width, height)


def new_key(user_id: uuid.UUID) -> str:
    """A fresh prefix per upload: a re-upload never overwrites files a client may cache."""
    return f"avatars/{user_id}/{uuid.uuid4().hex[:12]}"


def save_original(key: str, data: bytes, settings: Settings | None = None) -> str:
    """Store the upload where the resize job (maybe on another host) will read it."""
    original = f"{key}/original"
    get_storage(settings or get_settings()).put_bytes(
        original, data, content_type="application/octet-stream"
    )
    return original


def image_url(key: str, settings: Settings | None = None) -> str:
    """A signed, expiring link to one resized file (presigned on S3, served by the API locally)."""
    settings = settings or get_settings()
    return signing.file_url(key, settings.image_url_minutes * 60, settings=settings)[0]


def image_keys(key: str) -> list[dict]:
    return [
        {"width": size, "format": fmt.upper(), "key": f"{key}/avatar-{size}.{fmt}"}
        for size in SIZES
        for fmt in FORMATS
    ]


def mark(session, user_id: uuid.UUID, key: str, status: AvatarStatus) -> bool:
    """Set the avatar status, only if `key` is still the user's avatar (a newer upload wins)."""
    result = session.execute(
        update(User).where(User.id == user_id, User.avatar_key == key).values(avatar_status=status)
    )
    return result.rowcount == 1
