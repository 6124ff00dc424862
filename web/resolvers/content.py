"""Content: thin resolvers over `lms.content.service` (views are plain dicts)."""

from __future__ import annotations

from ariadne import EnumType, MutationType, QueryType, SubscriptionType

from lms.content import multipart, service
from lms.events.topics import VIDEO_PROCESSING
from web.events import EventView
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()

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
        "multipartUploadParts": multipart.multipart_upload_parts,
    },
    settings=True,
)
bind_service_fields(
    mutation,
    {
        "generateUploadUrl": service.generate_upload_url,
        "uploadCourseResource": service.upload_course_resource,
        "uploadSubmissionFile": service.upload_submission_file,
        "completeUpload": service.complete_upload,
        "deleteContent": service.delete_content,
        "deleteVideoAsset": service.delete_video_asset,
        "deleteFileAsset": service.delete_file_asset,
        "retryProcessingJob": service.retry_processing_job,
        "cancelProcessingJob": service.cancel_processing_job,
        "startMultipartUpload": multipart.start_multipart_upload,
        "completeMultipartUpload": multipart.complete_multipart_upload,
        "abortMultipartUpload": multipart.abort_multipart_upload,
    },
    write=True,
    settings=True,
)

# The service speaks the manifest names ("hls", "720p"); the schema speaks enums.
stream_format = EnumType("StreamFormat", {"HLS": "hls", "DASH": "dash"})
stream_resolution = EnumType(
    "StreamResolution", {f"P{height}": f"{height}p" for height in (1080, 720, 480, 360)}
)


@subscription.source("videoProcessingUpdated")
async def video_processing_source(_, info, video_asset_id: str):
    ctx = info.context
    viewer = ctx.require_viewer()
    # Authorizes (and answers NOT_FOUND / FORBIDDEN) before any key is bound.
    first = await ctx.read(service.video_processing_update, viewer, video_asset_id=video_asset_id)
    asset_id = first["videoAssetId"]

    async def current() -> EventView:
        update = service.video_processing_update
        return EventView(await ctx.read(update, viewer, video_asset_id=asset_id))

    # The stream binds the key before `current()` reads, so no change falls in between.
    async for event in ctx.hub.stream(VIDEO_PROCESSING, asset_id, current=current):
        yield event


@subscription.field("videoProcessingUpdated")
def resolve_video_processing_updated(event, *_args, **_kwargs):
    return event


bindables = [query, mutation, subscription, stream_format, stream_resolution]
