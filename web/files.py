"""`GET /files/<key>?expires=&signature=`: stored files behind signed, expiring links
(`lms.signing`). The signature is the authorization: no token needed, so a link can be
opened by a browser download; a tampered or expired link gets 403 with a code."""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, current_app, request, send_file

from lms.errors import LmsError
from lms.signing import verify
from web.graphql_http import error_response

blueprint = Blueprint("files", __name__)
CONTENT_TYPES = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}


def storage_root(settings) -> Path:
    return (settings.var_dir / "storage").resolve()


@blueprint.get("/files/<path:key>")
async def download(key: str) -> Response:
    settings = current_app.config["LMS_SERVICES"].settings
    try:
        verify(key, request.args.get("expires"), request.args.get("signature"), settings=settings)
    except LmsError as error:
        return error_response(403, error.code, error.message)
    root = storage_root(settings)
    target = (root / key).resolve()
    # A signed key never escapes the storage root, but check anyway: defence in depth.
    if not target.is_relative_to(root) or not target.is_file():
        return error_response(404, "NOT_FOUND", "No such file.")
    response = await send_file(
        target,
        mimetype=CONTENT_TYPES.get(target.suffix, "application/octet-stream"),
        as_attachment=True,
        attachment_filename=target.name,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
