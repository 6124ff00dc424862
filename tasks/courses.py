"""Course jobs: resize an uploaded cover image to its variants; remove a course's files.

Both are idempotent: storage keys are deterministic (`courses/{id}/cover/v{n}/…`), a resize
for a superseded cover version does nothing, and deleting what is already gone succeeds.
Files go through `lms.storage` (the API may have stored the original on another host's view
of it, or on S3); Pillow works on a scratch copy.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from lms.courses.cover import (
    COVER_WIDTHS,
    course_prefix,
    cover_prefix,
    cover_version,
    covers_prefix,
)
from lms.courses.errors import CourseCode
from lms.courses.models import Course, CoverStatus
from lms.db import session_scope
from lms.errors import PermanentJobError
from lms.models import utcnow
from lms.storage import get_storage, scratch_dir
from media.errors import MediaError
from media.images import resize_image
from tasks.base import JobContext, job_task


def _course_id(job: JobContext) -> uuid.UUID:
    try:
        return uuid.UUID(str(job.payload["course_id"]))
    except (KeyError, ValueError):
        raise PermanentJobError("the job names no valid course", code="INVALID_PAYLOAD") from None


def _current(session, course_id: uuid.UUID, version: int) -> Course | None:
    """The course, locked, if `version` is still its cover version."""
    course = session.scalar(select(Course).where(Course.id == course_id).with_for_update())
    return course if course is not None and course.cover_version == version else None


@job_task("courses.resize_cover")
def resize_cover(job: JobContext) -> dict:
    course_id, version = _course_id(job), int(job.payload["version"])
    with session_scope(job.settings) as session:
        if _current(session, course_id, version) is None:
            return {"skipped": "the course or this cover version is gone"}
    storage, prefix = get_storage(job.settings), cover_prefix(course_id, version)
    with scratch_dir(job.settings, f"cover-{course_id}-") as folder:
        original = storage.download(prefix + "original", folder / "original")
        try:
            paths = resize_image(original, folder / "out", COVER_WIDTHS, stem="cover")
        except MediaError as error:
            with session_scope(job.settings) as session:
                course = _current(session, course_id, version)
                if course is not None:
                    course.cover_status, course.cover_error = (
                        CoverStatus.FAILED,
                        error.message[:500],
                    )
            raise PermanentJobError(error.message, code=CourseCode.INVALID_IMAGE) from None
        storage.put_tree(prefix, folder / "out")
        variants = [_variant(prefix, path) for path in paths]
    with session_scope(job.settings) as session:
        course = _current(session, course_id, version)
        if course is None:
            return {"skipped": "superseded while resizing"}
        course.cover_status, course.cover_variants, course.cover_error = (
            CoverStatus.READY,
            variants,
            None,
        )
        course.updated_at = utcnow()
    _remove_versions_below(job, course_id, version)
    return {"version": version, "variants": len(variants)}


def _variant(prefix: str, path: Path) -> dict:
    with Image.open(path) as image:  # header only
        width, height = image.size
    return {
        "width": width,
        "height": height,
        "format": "webp" if path.suffix == ".webp" else "jpeg",
        "key": prefix + path.name,
    }


def _remove_versions_below(job: JobContext, course_id: uuid.UUID, version: int) -> int:
    storage = get_storage(job.settings)
    keys = storage.list(covers_prefix(course_id))
    older = {v for v in map(cover_version, keys) if v is not None and v < version}
    for old in older:
        storage.delete_prefix(cover_prefix(course_id, old))
    return len(older)


@job_task("courses.delete_storage")
def delete_storage(job: JobContext) -> dict:
    """Remove a deleted course's files, or only cover versions below `cover_versions_below`."""
    course_id = _course_id(job)
    below = job.payload.get("cover_versions_below")
    if below is not None:
        return {"removed_cover_versions": _remove_versions_below(job, course_id, int(below))}
    return {"removed": get_storage(job.settings).delete_prefix(course_prefix(course_id)) > 0}
