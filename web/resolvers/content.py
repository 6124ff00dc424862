"""Content: thin resolvers over `lms.content.service` (views are plain dicts)."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from lms.content import service
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()

bind_service_fields(query, {"videoProcessingStatus": service.video_processing_status})
bind_service_fields(
    query,
    {
        "videoAsset": service.get_video_asset,
        "fileAsset": service.get_file_asset,
        "generateStreamingUrl": service.generate_streaming_url,
        "videoAssets": service.list_video_assets,
        "myVideoAssets": (service.list_video_assets, {"mine": True}),
        "fileAssets": service.list_file_assets,
        "myFileAssets": (service.list_file_assets, {"mine": True}),
    },
    settings=True,
)
bind_service_fields(
    mutation,
    {
        "generateUploadUrl": service.generate_upload_url,
        "uploadCourseResource": service.upload_course_resource,
        "completeUpload": service.complete_upload,
        "deleteContent": service.delete_content,
        "deleteVideoAsset": service.delete_video_asset,
        "deleteFileAsset": service.delete_file_asset,
        "retryProcessingJob": service.retry_processing_job,
        "cancelProcessingJob": service.cancel_processing_job,
    },
    write=True,
    settings=True,
)

bindables = [query, mutation]
