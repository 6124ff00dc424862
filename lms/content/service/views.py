"""Asset views: plain dicts (snake_case keys) built inside the session, with signed URLs
already in.
"""

from __future__ import annotations

import re
from typing import Any

from lms.config import Settings, get_settings
from lms.content.models import AssetStatus, FileAsset, VideoAsset
from lms.content.service.common import expiry, signed_url
from lms.storage import signing, video_prefix


def video_view(
    asset: VideoAsset, settings: Settings | None = None, *, with_urls: bool = True
) -> dict[str, Any]:
    settings = settings or get_settings()
    view = {column: getattr(asset, column) for column in VideoAsset.__table__.columns.keys()}
    view["status"] = asset.status.value
    view["file_key"] = asset.source_key
    view["processing_job_id"] = asset.pipeline_job_id
    view["renditions"] = [dict(r) for r in asset.renditions or []]
    view["poster_url"] = view["thumbnail_url"] = view["storyboard_url"] = view["preview_url"] = None
    if with_urls and asset.status == AssetStatus.READY:
        expires = expiry(settings.stream_url_minutes)
        scope = video_prefix(asset.id, asset.version)
        sign = lambda key: signed_url(settings, key, expires, scope=scope) if key else None  # noqa: E731
        view["poster_url"] = sign(asset.poster_key)
        view["thumbnail_url"] = sign(_thumbnail(asset.thumbnail_keys, 640))
        view["storyboard_url"] = sign(asset.storyboard_key)
        view["preview_url"] = sign(asset.preview_key)
    return view


def _thumbnail(keys: list[str] | None, width: int) -> str | None:
    """The JPEG thumbnail closest to `width` (JPEG: every client decodes it)."""
    jpegs = [k for k in keys or [] if k.endswith(".jpg")]
    if not jpegs:
        return None

    def size(key: str) -> int:
        match = re.search(r"-(\d+)\.jpg$", key)
        return int(match.group(1)) if match else 0

    return min(jpegs, key=lambda k: abs(size(k) - width))


def file_view(
    asset: FileAsset, settings: Settings | None = None, *, with_urls: bool = True
) -> dict[str, Any]:
    settings = settings or get_settings()
    view = {column: getattr(asset, column) for column in FileAsset.__table__.columns.keys()}
    view["status"] = asset.status.value
    view["file_key"] = asset.key
    view["download_url"] = view["thumbnail_url"] = None
    if with_urls and asset.status == AssetStatus.READY:
        # One file each: presigned by the store on S3, served by the API on local storage.
        seconds = settings.stream_url_minutes * 60
        view["download_url"] = signing.file_url(asset.key, seconds, settings=settings)[0]
        thumb = _thumbnail(asset.thumbnail_keys, 320)
        view["thumbnail_url"] = (
            signing.file_url(thumb, seconds, settings=settings)[0] if thumb else None
        )
    return view
