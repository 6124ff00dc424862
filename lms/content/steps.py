"""The video ingest pipeline, declared once: its steps as the API shows them and the
workers run them (`pipelines/video_ingest.py` binds each step to its code).

Each step is a job (`kind`, on the `media` queue), a child of the pipeline job
`media.ingest` through `parent_id`. `weight` is the step's share of the whole pipeline's
progress; a retry resumes at the first step that has not succeeded.
"""

from __future__ import annotations

from lms.jobs.pipelines import Pipeline, Step

RESOURCE_KIND = "media.resource_check"
PURGE_KIND = "media.purge"
STEP_MAX_ATTEMPTS = 3

VIDEO_INGEST = Pipeline(
    name="video_ingest",
    kind="media.ingest",
    subject="video_asset",
    steps=(
        Step("validate", "media.validate", 0.05, max_attempts=STEP_MAX_ATTEMPTS),
        Step("transcode", "media.transcode", 0.70, max_attempts=STEP_MAX_ATTEMPTS),
        Step("images", "media.images", 0.20, max_attempts=STEP_MAX_ATTEMPTS),
        Step("finalize", "media.finalize", 0.05, max_attempts=STEP_MAX_ATTEMPTS),
    ),
)
PIPELINE_KIND = VIDEO_INGEST.kind
STEPS: tuple[Step, ...] = VIDEO_INGEST.steps
