"""Avatar resizing: the uploaded original → 256/128/64 px squares, WebP and JPEG."""

from __future__ import annotations

import uuid

from PIL import Image, ImageOps

from lms.db import session_scope
from lms.errors import PermanentJobError
from lms.storage import get_storage, scratch_dir
from lms.users import avatars
from lms.users.errors import UserCode
from lms.users.models import AvatarStatus
from media.errors import MediaError
from media.images import open_image, resize_image
from tasks.base import JobContext, job_task


@job_task("users.avatar_resize")
def resize_avatar(job: JobContext) -> dict:
    user_id = uuid.UUID(job.payload["user_id"])
    key = job.payload["key"]
    storage = get_storage(job.settings)
    # The API stored the original (maybe on another host's disk view, or S3): work on a copy.
    with scratch_dir(job.settings, f"avatar-{user_id}-") as folder:
        original = storage.download(f"{key}/original", folder / "original")
        try:
            # Checked again here, with the media library's decompression-bomb guard.
            img = open_image(original, max_pixels=avatars.MAX_PIXELS)
        except MediaError as error:
            with session_scope(job.settings) as session:
                avatars.mark(session, user_id, key, AvatarStatus.FAILED)
            raise PermanentJobError(error.message, code=UserCode.AVATAR_NOT_AN_IMAGE) from error
        # Fixed sizes are the point of an avatar: crop to a centred square at the largest size
        # (a small picture is scaled up once), then let the media library write every size.
        largest = max(avatars.SIZES)
        square = ImageOps.fit(
            img.convert("RGBA" if "A" in img.getbands() else "RGB"),
            (largest, largest),
            Image.LANCZOS,
        )
        staged = folder / "square.png"
        square.save(staged, "PNG")
        written = resize_image(staged, folder / "out", avatars.SIZES, stem="avatar")
        storage.put_tree(f"{key}/", folder / "out")
    with session_scope(job.settings) as session:
        current = avatars.mark(session, user_id, key, AvatarStatus.READY)
    return {"key": key, "files": sorted(p.name for p in written), "current": current}
