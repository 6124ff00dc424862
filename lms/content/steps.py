"""The video ingest pipeline, declared once: its steps as the API shows them and the
workers run them (`pipelines/video_ingest.py` binds each step to its code).

Each step is a job (`kind`, on the `media` queue), a child of the pipeline job
`media.ingest` through `parent_id`. `weight` is the step's share of the whole pipeline's
progress; a retry resumes at the first step that has not succeeded. Each step has a time
limit from the settings (transcoding and images scale with the longest source accepted):
past it the step ends FAILED with `STEP_TIME_LIMIT` and its ffmpeg is killed.
"""

from __future__ import annotations

from lms.config import get_settings
from lms.jobs.pipelines import Pipeline, Step

RESOURCE_KIND = "media.resource_check"
PURGE_KIND = "media.purge"
STEP_MAX_ATTEMPTS = 3
_SETTINGS = get_settings()
_STEP_LIMIT = _SETTINGS.video_step_time_limit_seconds
_TRANSCODE_LIMIT = _SETTINGS.video_max_seconds * _SETTINGS.video_transcode_time_factor
_IMAGES_LIMIT = _SETTINGS.video_max_seconds * _SETTINGS.video_images_time_factor

VIDEO_INGEST = Pipeline(
    name="video_ingest",
    kind="media.ingest",
    subject="video_asset",
    steps=(
        Step(
            "validate",
            "media.validate",
            0.05,
            max_attempts=STEP_MAX_ATTEMPTS,
            time_limit=_STEP_LIMIT,
        ),
        Step(
            "transcode",
            "media.transcode",
            0.70,
            max_attempts=STEP_MAX_ATTEMPTS,
            time_limit=_TRANSCODE_LIMIT,
        ),
        Step(
            "images", "media.images", 0.20, max_attempts=STEP_MAX_ATTEMPTS, time_limit=_IMAGES_LIMIT
        ),
        Step(
            "finalize",
            "media.finalize",
            0.05,
            max_attempts=STEP_MAX_ATTEMPTS,
            time_limit=_STEP_LIMIT,
        ),
    ),
)
PIPELINE_KIND = VIDEO_INGEST.kind
STEPS: tuple[Step, ...] = VIDEO_INGEST.steps
