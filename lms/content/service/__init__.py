"""Content: uploads, assets, the ingest pipeline's control and signed playback.

Plain sync functions on a session; they validate, authorize and never commit. Views are
plain dicts (snake_case keys) built inside the session, with signed URLs already in.

Upload flow (both storage backends): `generateUploadUrl` / `uploadCourseResource` register
the asset (UPLOADING) and return a signed PUT target; the client PUTs the bytes, then calls
`completeUpload(fileKey)`, which checks the object and starts the work (the ingest pipeline
for videos, a content check for resources).

One module per section (`common`, `views`, `processing`, `uploads`, `deleting`, `reads`);
every public name is re-exported here, so callers import `lms.content.service` and never a
section.
"""

from lms.content.service.common import (
    can_manage_asset,
    expiry,
    find_lesson,
    managed_video,
    parse_id,
    signed_url,
)
from lms.content.service.deleting import (
    delete_content,
    delete_file_asset,
    delete_video_asset,
    purge_storage,
)
from lms.content.service.processing import (
    cancel_processing_job,
    follow_video_duration,
    mark_cancelled,
    mark_failed,
    mark_ready,
    processing_event,
    processing_status,
    processing_update,
    publish_asset,
    publish_processing,
    retry_processing_job,
    video_processing_status,
    video_processing_update,
)
from lms.content.service.reads import (
    generate_streaming_url,
    get_file_asset,
    get_video_asset,
    list_file_assets,
    list_video_assets,
    own_submission_file,
    ready_video_ids,
    ready_video_lengths,
    video_seconds,
)
from lms.content.service.uploads import (
    MAX_TITLE,
    RESOURCE_CONTENT_TYPES,
    UPLOADERS,
    VIDEO_CONTENT_TYPES,
    complete_upload,
    detect_file_type,
    generate_upload_url,
    register_video,
    safe_file_name,
    start_pipeline,
    upload_course_resource,
    upload_submission_file,
)
from lms.content.service.views import file_view, video_view

__all__ = [
    "MAX_TITLE",
    "RESOURCE_CONTENT_TYPES",
    "UPLOADERS",
    "VIDEO_CONTENT_TYPES",
    "can_manage_asset",
    "cancel_processing_job",
    "complete_upload",
    "delete_content",
    "delete_file_asset",
    "delete_video_asset",
    "detect_file_type",
    "expiry",
    "file_view",
    "find_lesson",
    "follow_video_duration",
    "generate_streaming_url",
    "generate_upload_url",
    "get_file_asset",
    "get_video_asset",
    "list_file_assets",
    "list_video_assets",
    "managed_video",
    "mark_cancelled",
    "mark_failed",
    "own_submission_file",
    "mark_ready",
    "parse_id",
    "processing_event",
    "processing_status",
    "processing_update",
    "publish_asset",
    "publish_processing",
    "purge_storage",
    "ready_video_ids",
    "ready_video_lengths",
    "register_video",
    "retry_processing_job",
    "safe_file_name",
    "signed_url",
    "start_pipeline",
    "upload_course_resource",
    "upload_submission_file",
    "video_processing_status",
    "video_processing_update",
    "video_seconds",
    "video_view",
]
