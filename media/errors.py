"""The one error type of the media library.

Callers (tasks, services) map ``code`` straight onto a job's error code, so the codes are
part of the contract: add new ones, never rename them.
"""

from __future__ import annotations

from typing import Final

INVALID_MEDIA: Final = "INVALID_MEDIA"
NO_VIDEO_STREAM: Final = "NO_VIDEO_STREAM"
TOO_SHORT: Final = "TOO_SHORT"
TOO_LONG: Final = "TOO_LONG"
RESOLUTION_TOO_HIGH: Final = "RESOLUTION_TOO_HIGH"
TRANSCODE_FAILED: Final = "TRANSCODE_FAILED"
CANCELLED: Final = "CANCELLED"

CODES: Final = frozenset(
    {
        INVALID_MEDIA,
        NO_VIDEO_STREAM,
        TOO_SHORT,
        TOO_LONG,
        RESOLUTION_TOO_HIGH,
        TRANSCODE_FAILED,
        CANCELLED,
    }
)

# Invalid input never gets better on retry; everything else might (a killed ffmpeg, a full
# disk). Workers use this to decide between failing at once and retrying with backoff.
PERMANENT_CODES: Final = frozenset(
    {INVALID_MEDIA, NO_VIDEO_STREAM, TOO_SHORT, TOO_LONG, RESOLUTION_TOO_HIGH, CANCELLED}
)


class MediaError(Exception):
    """A media operation failed; ``code`` is stable, ``message`` is for humans."""

    def __init__(self, code: str, message: str, *, detail: str = "") -> None:
        if code not in CODES:
            raise ValueError(f"unknown media error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # Tool output (last stderr lines); for operators and logs, not for end users.
        self.detail = detail

    @property
    def permanent(self) -> bool:
        """True when retrying the same input cannot succeed."""
        return self.code in PERMANENT_CODES
