"""The video ingest pipeline's steps, as the API shows them and the workers run them.

Each step is a job (`kind`), a child of the pipeline job `media.ingest` through `parent_id`.
`weight` is the step's share of the whole pipeline's progress.
"""

from __future__ import annotations

from dataclasses import dataclass

PIPELINE_KIND = "media.ingest"
RESOURCE_KIND = "media.resource_check"
PURGE_KIND = "media.purge"
STEP_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    weight: float


STEPS: tuple[Step, ...] = (
    Step("validate", "media.validate", 0.05),
    Step("transcode", "media.transcode", 0.70),
    Step("images", "media.images", 0.20),
    Step("finalize", "media.finalize", 0.05),
)
STEP_BY_KIND = {step.kind: step for step in STEPS}


def next_step(kind: str) -> Step | None:
    index = [step.kind for step in STEPS].index(kind)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None
