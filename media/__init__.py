"""Lyceum's pure media library: functions in, files out.

No database, Celery or GraphQL here; the only outside dependencies are the ffmpeg and
ffprobe binaries, ffmpeg-python (argument building) and Pillow. Every failure is a
``MediaError`` with a stable ``code``.
"""

from .errors import MediaError
from .images import is_black, poster_frame, resize_image, thumbnails
from .ladder import DEFAULT_LADDER, Rung, RungSpec, plan_ladder
from .preview import animated_preview
from .probe import ProbeResult, check_decodable, probe, validate
from .progress import ProgressParser
from .storyboard import Storyboard, StoryboardCue, storyboard
from .transcode import Rendition, TranscodeResult, build_command, transcode_ladder

__all__ = [
    "DEFAULT_LADDER",
    "MediaError",
    "ProbeResult",
    "ProgressParser",
    "Rendition",
    "Rung",
    "RungSpec",
    "Storyboard",
    "StoryboardCue",
    "TranscodeResult",
    "animated_preview",
    "build_command",
    "check_decodable",
    "is_black",
    "plan_ladder",
    "poster_frame",
    "probe",
    "resize_image",
    "storyboard",
    "thumbnails",
    "transcode_ladder",
    "validate",
]
