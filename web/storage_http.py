"""Signed storage endpoints: uploads (local PUT) and downloads/streams (GET, Range, CORS).

URLs carry their authorization in the path, never in a cookie or header, so players can
fetch relative playlist and segment URLs with plain GETs:

- `PUT /storage/u/{expires}/{signature}/{key}?ct=…&max=…` (local storage only): the
  signature covers the key, the one content type and the size cap; the body streams to disk
  and is cut off at the cap.
- The same route with `?upload=…&ct=…&size=…&part=…` takes one part of a resumable upload
  per PUT, placed by `Content-Range: bytes a-b/total` (see `_upload_part`).
- `GET /storage/s/{expires}/{signature}/{key}[?name=…][&download=1]`: the signature covers
  the key or a folder above it (one signature for a whole HLS/DASH ladder), or the key and
  its file name. Local files are served with HTTP Range. On S3, playlists are served from
  here with presigned segment URLs written in, and any other object answers with a redirect
  to a presigned URL. A named file is served `inline` under its name, or as an `attachment`
  with `download=1`.

Links are made and checked by `lms.storage.signing`.

Expired or altered URLs get 403. CORS for `settings.cors_origins` (and the OPTIONS
preflight) comes from the app; Range-related headers are exposed to scripts here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from quart import Blueprint, Quart, Response, current_app, request
from quart.asgi import ASGIHTTPConnection

from lms.config import Settings
from lms.storage import Storage, StorageError, get_storage, guess_type, signing
from lms.storage.local import LocalStorage
from lms.storage.signing import GET_ROUTE, PUT_PURPOSE, UPLOAD_ROUTE

blueprint = Blueprint("storage", __name__)
CHUNK = 256 * 1024
UPLOAD_BODY_TIMEOUT = 6 * 3600
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Served through the API so that their relative URLs come back here: HLS playlists get
# presigned segment URLs written in; the DASH MPD (segment templates cannot carry per-file
# signatures) and the storyboard VTT are passed as they are, their segments and sprites
# then answered with redirects to presigned URLs.
_PLAYLIST_SUFFIXES = (".m3u8", ".mpd", ".vtt")
EXPOSED_HEADERS = "Content-Length, Content-Range, Accept-Ranges, Content-Type, ETag"


def install(app: Quart) -> None:
    """Register the endpoints; uploads get their own body limit instead of the API's."""
    app.register_blueprint(blueprint)
    app.asgi_http_class = _UploadAwareConnection


class _UploadAwareConnection(ASGIHTTPConnection):
    """The app-wide body limit (`LMS_MAX_BODY_BYTES`) is for GraphQL; signed uploads carry
    their own limit, which the upload view enforces while streaming to disk."""

    def _create_request_from_scope(self, send):
        request = super()._create_request_from_scope(send)
        if request.method == "PUT" and request.path.startswith(UPLOAD_ROUTE + "/"):
            request.body = request.body_class(request.content_length, None)
            request.body_timeout = UPLOAD_BODY_TIMEOUT
        return request


def _settings() -> Settings:
    return current_app.config["LMS_SERVICES"].settings


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return Response(body, status=status, content_type="application/json")


def _denied(check) -> Response | None:
    """None when the URL is genuine and current; a 403 with `SIGNATURE_INVALID` or
    `LINK_EXPIRED`."""
    try:
        check()
    except (signing.SignatureInvalid, signing.LinkExpired) as error:
        return _error(403, error.code, error.message)
    return None


@blueprint.after_request
async def _storage_headers(response: Response) -> Response:
    if request.path.startswith(("/storage/s/", "/storage/u/")):
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        # Players and <img>/<video> on the front end's origin load these cross-origin.
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- uploads -------------------------------------------------------------------------


@blueprint.put(f"{UPLOAD_ROUTE}/<int:expires>/<signature>/<path:key>")
async def upload(expires: int, signature: str, key: str) -> Response:
    settings = _settings()
    storage = get_storage(settings)
    if not isinstance(storage, LocalStorage):
        return _error(404, "NOT_FOUND", "Uploads go straight to the object store.")
    if "upload" in request.args:
        return await _upload_part(storage, settings, expires, signature, key)
    content_type = request.args.get("ct", "")
    try:
        max_bytes = int(request.args.get("max", ""))
    except ValueError:
        return _error(403, "SIGNATURE_INVALID", "This link is not valid.")
    denied = _denied(
        lambda: signing.verify(
            signing.upload_scope(key, content_type, max_bytes),
            expires,
            signature,
            purpose=PUT_PURPOSE,
            settings=settings,
        )
    )
    if denied:
        return denied
    sent_type = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if sent_type != content_type:
        return _error(415, "UNSUPPORTED_CONTENT_TYPE", f"This upload accepts {content_type} only.")
    if request.content_length is not None and request.content_length > max_bytes:
        return _error(413, "FILE_TOO_LARGE", f"The file is over {max_bytes} bytes.")
    try:
        target = storage.path(key)
    except ValueError:
        return _error(403, "SIGNATURE_INVALID", "This link is not valid.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.part")
    size = 0
    try:
        with open(partial, "wb") as handle:
            async for chunk in request.body:
                size += len(chunk)
                if size > max_bytes:
                    return _error(413, "FILE_TOO_LARGE", f"The file is over {max_bytes} bytes.")
                await asyncio.to_thread(handle.write, chunk)
        os.replace(partial, target)  # readers see the old object or the whole new one
    finally:
        partial.unlink(missing_ok=True)
    return Response(
        json.dumps({"fileKey": key, "sizeBytes": size}), status=201, content_type="application/json"
    )


_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


async def _upload_part(
    storage: LocalStorage, settings: Settings, expires: int, signature: str, key: str
) -> Response:
    """One chunk of a resumable upload: `Content-Range: bytes a-b/total` must be exactly one
    part. It is stored whole or not at all, so after a dropped connection `list_parts` shows
    only complete parts and the client sends the rest."""
    args = request.args
    upload_id, content_type = args.get("upload", ""), args.get("ct", "")
    try:
        total, part_bytes = int(args.get("size", "")), int(args.get("part", ""))
    except ValueError:
        return _error(403, "SIGNATURE_INVALID", "This link is not valid.")
    denied = _denied(
        lambda: signing.verify(
            signing.multipart_scope(key, upload_id, content_type, total, part_bytes),
            expires,
            signature,
            purpose=PUT_PURPOSE,
            settings=settings,
        )
    )
    if denied:
        return denied
    sent_type = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if sent_type != content_type:
        return _error(415, "UNSUPPORTED_CONTENT_TYPE", f"This upload accepts {content_type} only.")
    match = _CONTENT_RANGE.match(request.headers.get("Content-Range", ""))
    start, end, whole = (int(g) for g in match.groups()) if match else (-1, -1, -1)
    if (
        whole != total
        or start % part_bytes
        or start >= total
        or end - start + 1 != min(part_bytes, total - start)
    ):
        return _error(
            416,
            "PART_NUMBER_OUT_OF_RANGE",
            f"Content-Range must be one part: bytes a-b/{total}, a a multiple of {part_bytes}.",
        )
    folder = storage.multipart_dir(upload_id)
    if not folder.is_dir():
        return _error(404, "MULTIPART_UPLOAD_NOT_FOUND", "This upload was completed or aborted.")
    expected = end - start + 1
    target = storage.part_path(upload_id, start // part_bytes + 1)
    partial = folder / f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.part"
    size = 0
    try:
        with open(partial, "wb") as handle:
            async for chunk in request.body:
                size += len(chunk)
                if size > expected:
                    return _error(413, "FILE_TOO_LARGE", f"This part is {expected} bytes.")
                await asyncio.to_thread(handle.write, chunk)
        if size != expected:
            return _error(400, "PART_INCOMPLETE", f"This part is {expected} bytes; got {size}.")
        os.replace(partial, target)
    except FileNotFoundError:  # aborted meanwhile: its folder is gone
        return _error(404, "MULTIPART_UPLOAD_NOT_FOUND", "This upload was completed or aborted.")
    finally:
        partial.unlink(missing_ok=True)
    body = {"partNumber": start // part_bytes + 1, "sizeBytes": size}
    return Response(json.dumps(body), status=201, content_type="application/json")


# --- downloads and streams -----------------------------------------------------------


@blueprint.route(f"{GET_ROUTE}/<int:expires>/<signature>/<path:key>", methods=["GET", "HEAD"])
async def download(expires: int, signature: str, key: str) -> Response:
    settings = _settings()
    name = request.args.get("name")
    denied = _denied(
        lambda: signing.verify_get(key, expires, signature, name=name, settings=settings)
    )
    if denied:
        return denied
    storage = get_storage(settings)
    cache = f"private, max-age={max(0, expires - int(time.time()))}"
    download = request.args.get("download") in ("1", "true")
    disposition = signing.content_disposition(name, download=download) if name else None
    if isinstance(storage, LocalStorage):
        try:
            path = storage.path(key)
        except ValueError:
            return _error(404, "NOT_FOUND", "No such file.")
        if not path.is_file():
            return _error(404, "NOT_FOUND", "No such file.")
        return _serve_file(path, key, cache, disposition)
    return await _serve_remote(storage, key, expires, cache, disposition)


def _serve_file(path: Path, key: str, cache: str, disposition: str | None) -> Response:
    size = path.stat().st_size
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": cache,
        "Content-Type": guess_type(key),
        "ETag": f'"{int(path.stat().st_mtime_ns)}-{size}"',
    }
    if disposition:
        headers["Content-Disposition"] = disposition
    start, end, status = 0, size - 1, 200
    wanted = request.headers.get("Range")
    if wanted:
        parsed = _parse_range(wanted, size)
        if parsed is None:
            return Response("", status=416, headers={"Content-Range": f"bytes */{size}", **headers})
        start, end = parsed
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(b"", status=status, headers=headers)

    async def body():
        with open(path, "rb") as handle:
            handle.seek(start)
            remaining = length
            while remaining > 0:
                chunk = await asyncio.to_thread(handle.read, min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    return Response(body(), status=status, headers=headers)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range (`a-`, `-n` too) as inclusive offsets; None if unsatisfiable.
    Several ranges are answered with the first one (a server may do so)."""
    first = header.split(",", 1)[0].strip()
    match = _RANGE.match(first)
    if not match or (not match.group(1) and not match.group(2)) or size == 0:
        return None
    if not match.group(1):  # suffix: the last n bytes
        length = int(match.group(2))
        return (max(0, size - length), size - 1) if length > 0 else None
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


async def _serve_remote(
    storage: Storage, key: str, expires: int, cache: str, disposition: str | None
) -> Response:
    """S3 without a CDN: playlists through here with presigned segment URLs, the rest by
    redirect."""
    expires_at = datetime.fromtimestamp(expires, UTC)
    if disposition or not key.endswith(_PLAYLIST_SUFFIXES):
        url = await asyncio.to_thread(
            storage.presigned_get, key, expires_at=expires_at, content_disposition=disposition
        )
        return Response("", status=302, headers={"Location": url, "Cache-Control": cache})
    try:
        text = (await asyncio.to_thread(storage.read_bytes, key)).decode("utf-8")
    except FileNotFoundError:
        return _error(404, "NOT_FOUND", "No such file.")
    except StorageError:
        return _error(503, "STORAGE_UNAVAILABLE", "Storage is unavailable; try again.")
    folder = key.rsplit("/", 1)[0] + "/"
    if key.endswith(".m3u8"):
        text = await asyncio.to_thread(_presign_playlist, storage, text, folder, expires_at)
    rewritten = text
    return Response(
        rewritten, status=200, headers={"Content-Type": guess_type(key), "Cache-Control": cache}
    )


_URI_ATTR = re.compile(r'URI="([^"]+)"')


def _presign_playlist(storage: Storage, text: str, folder: str, expires_at: datetime) -> str:
    """Segment and init URIs become presigned store URLs; playlist URIs stay relative (they
    come back here, under the same signature)."""

    def sign(uri: str) -> str:
        if "://" in uri or uri.endswith(".m3u8"):
            return uri
        return storage.presigned_get(folder + uri, expires_at=expires_at) or uri

    lines = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            line = _URI_ATTR.sub(lambda m: f'URI="{sign(m.group(1))}"', line)
        elif line and not line.startswith("#"):
            line = sign(line)
        lines.append(line)
    return "\n".join(lines) + "\n"
