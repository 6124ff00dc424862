"""`GET /admin/queues`: the operator console. Static files; the page signs in through the
GraphQL `login` mutation and then reads everything through the same admin API (which
authorizes admins and read-only operators), updating live from the subscriptions."""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, abort

blueprint = Blueprint("admin_page", __name__)
STATIC = Path(__file__).resolve().parent / "static"
PAGE = STATIC / "admin_queues.html"
# The console's own scripts and styles, served with the page (no CDN).
ASSETS = {
    "admin_console.js": "text/javascript; charset=utf-8",
    "admin_charts.js": "text/javascript; charset=utf-8",
    "admin_console.css": "text/css; charset=utf-8",
}
# The page talks only to its own origin and runs only its own files.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _static(path: Path, content_type: str) -> Response:
    response = Response(path.read_text(encoding="utf-8"), content_type=content_type)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/admin/queues")
async def queues_page() -> Response:
    return _static(PAGE, "text/html; charset=utf-8")


@blueprint.get("/admin/static/<name>")
async def console_asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    return _static(STATIC / name, ASSETS[name])
