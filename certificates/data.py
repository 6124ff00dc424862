"""What a certificate says: plain data, checked once so the layout can trust it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CertificateData"]

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

    def __post_init__(self) -> None:
        for name in ("student_name", "course_title", "certificate_code", "verification_url"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must not be empty")
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise ValueError("issued_at must be timezone-aware (UTC)")
        if self.version < 1:
            raise ValueError("version starts at 1")

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
