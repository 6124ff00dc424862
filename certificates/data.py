"""What a certificate says: plain data, checked once so the layout can trust it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from PIL import Image, UnidentifiedImageError

__all__ = ["CertificateData", "CertificateImageError", "check_image"]

IMAGE_FORMATS = ("PNG", "JPEG")

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class CertificateData:
    """Everything printed on a certificate. ``issued_at`` must be timezone-aware."""

    student_name: str
    course_title: str
    instructor_names: list[str]
    issued_at: datetime
    certificate_code: str
    verification_url: str
    version: int = 1
    school_name: str = "Lyceum"
    # Optional PNG/JPEG bytes: a signature drawn above the instructors line, a seal in a corner.
    signature_image: bytes | None = field(default=None, repr=False)
    seal_image: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("student_name", "course_title", "certificate_code", "verification_url"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must not be empty")
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise ValueError("issued_at must be timezone-aware (UTC)")
        if self.version < 1:
            raise ValueError("version starts at 1")
        for name in ("signature_image", "seal_image"):
            image = getattr(self, name)
            if image is not None:
                check_image(image, name)

    @property
    def instructors(self) -> tuple[str, ...]:
        """Instructor names without blanks."""
        return tuple(n.strip() for n in self.instructor_names if n and n.strip())

    @property
    def issued_on(self) -> str:
        """Issue date in UTC, spelled out so no reader confuses day and month ("3 March 2025")."""
        day = self.issued_at.astimezone(UTC)
        return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"

    @property
    def instructors_line(self) -> str:
        """``Instructor: A`` or ``Instructors: A, B and C``; empty without instructors."""
        names = self.instructors
        if not names:
            return ""
        if len(names) == 1:
            return f"Instructor: {names[0]}"
        return f"Instructors: {', '.join(names[:-1])} and {names[-1]}"


class CertificateImageError(ValueError):
    """An image for the certificate is not a readable PNG or JPEG."""

    code = "INVALID_CERTIFICATE_IMAGE"  # stable, for job errors and start-up messages


def check_image(data: bytes, name: str = "image") -> tuple[int, int]:
    """Return the (width, height) in pixels of PNG/JPEG ``data``; raise CertificateImageError.

    Checked when the data is built, so a broken file fails with its name, not deep in ReportLab.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, size = image.format, image.size
            image.load()  # decodes it all: catches truncated or corrupt files
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise CertificateImageError(f"{name} is not a readable PNG or JPEG image ({exc})") from None
    if kind not in IMAGE_FORMATS:
        raise CertificateImageError(f"{name} must be a PNG or JPEG image, not {kind}")
    if not (size[0] and size[1]):
        raise CertificateImageError(f"{name} has no pixels")
    return size
