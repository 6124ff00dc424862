"""`GET /admin/queues`: the operator page. A static page; it signs in through the GraphQL
`login` mutation and then reads everything through the same admin-only API (so the page
itself needs no authorization), updating live from the subscriptions."""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response

blueprint = Blueprint("admin_page", __name__)
PAGE = Path(__file__).resolve().parent / "static" / "admin_queues.html"
# The page talks only to its own origin; inline script/style are the page's own.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@blueprint.get("/admin/queues")
async def queues_page() -> Response:
    response = Response(PAGE.read_text(encoding="utf-8"), content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response
