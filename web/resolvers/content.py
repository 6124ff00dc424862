"""Content: thin resolvers over `lms.content.service` (views are plain dicts)."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from lms.content import service

query = QueryType()
mutation = MutationType()


async def _read(info, fn, **kwargs):
    ctx = info.context
    return await ctx.read(fn, ctx.require_viewer(), settings=ctx.settings, **kwargs)


async def _write(info, fn, **kwargs):
    ctx = info.context
    return await ctx.write(fn, ctx.require_viewer(), settings=ctx.settings, **kwargs)


# --- queries -------------------------------------------------------------------------


@query.field("videoProcessingStatus")
async def resolve_video_processing_status(_, info, video_asset_id: str) -> dict:
    ctx = info.context
    return await ctx.read(service.video_processing_status, ctx.require_viewer(), video_asset_id=video_asset_id)


@query.field("videoAsset")
async def resolve_video_asset(_, info, id: str) -> dict:
    return await _read(info, service.get_video_asset, id=id)


@query.field("fileAsset")
async def resolve_file_asset(_, info, id: str) -> dict:
    return await _read(info, service.get_file_asset, id=id)


@query.field("generateStreamingUrl")
async def resolve_generate_streaming_url(_, info, lesson_id: str, resolution: str | None = None,
                                         format: str | None = None) -> dict:
    return await _read(info, service.generate_streaming_url, lesson_id=lesson_id, resolution=resolution,
                       format=format)


@query.field("videoAssets")
async def resolve_video_assets(_, info, filter: dict | None = None, pagination: dict | None = None):
    return await _read(info, service.list_video_assets, filter=filter, pagination=pagination)


@query.field("myVideoAssets")
async def resolve_my_video_assets(_, info, filter: dict | None = None, pagination: dict | None = None):
    return await _read(info, service.list_video_assets, filter=filter, pagination=pagination, mine=True)


@query.field("fileAssets")
async def resolve_file_assets(_, info, filter: dict | None = None, pagination: dict | None = None):
    return await _read(info, service.list_file_assets, filter=filter, pagination=pagination)


@query.field("myFileAssets")
async def resolve_my_file_assets(_, info, filter: dict | None = None, pagination: dict | None = None):
    return await _read(info, service.list_file_assets, filter=filter, pagination=pagination, mine=True)


# --- mutations -----------------------------------------------------------------------


@mutation.field("generateUploadUrl")
async def resolve_generate_upload_url(_, info, input: dict) -> dict:
    return await _write(info, service.generate_upload_url, input=input)


@mutation.field("uploadCourseResource")
async def resolve_upload_course_resource(_, info, input: dict) -> dict:
    return await _write(info, service.upload_course_resource, input=input)


@mutation.field("completeUpload")
async def resolve_complete_upload(_, info, file_key: str) -> dict:
    return await _write(info, service.complete_upload, file_key=file_key)


@mutation.field("deleteContent")
async def resolve_delete_content(_, info, file_key: str) -> bool:
    return await _write(info, service.delete_content, file_key=file_key)


@mutation.field("deleteVideoAsset")
async def resolve_delete_video_asset(_, info, id: str) -> bool:
    return await _write(info, service.delete_video_asset, id=id)


@mutation.field("deleteFileAsset")
async def resolve_delete_file_asset(_, info, id: str) -> bool:
    return await _write(info, service.delete_file_asset, id=id)


@mutation.field("retryProcessingJob")
async def resolve_retry_processing_job(_, info, id: str) -> dict:
    return await _write(info, service.retry_processing_job, id=id)


@mutation.field("cancelProcessingJob")
async def resolve_cancel_processing_job(_, info, id: str) -> dict:
    return await _write(info, service.cancel_processing_job, id=id)


bindables = [query, mutation]
