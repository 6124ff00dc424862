"""The GraphiQL explorer page and its assets, served from the installed package.

The page names only files under `/graphiql/` on this origin (vendored in
`web/static/graphiql/`, see its README), so it works offline and its CSP allows no other
origin.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from quart import Blueprint, Response, abort, send_from_directory

blueprint = Blueprint("explorer_assets", __name__)
ASSETS = Path(__file__).resolve().parent / "static" / "graphiql"
PREFIX = "/graphiql"
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "lyceum-explorer.js",
)
STYLES = ("graphiql.min.css", "plugin-explorer.css")
_SERVED = frozenset(SCRIPTS + STYLES)
# GraphiQL sets inline styles and embeds its fonts and icons as data: URLs.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self' ws: wss:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def page(title: str = "Lyceum GraphQL") -> Response:
    styles = "".join(f'<link rel="stylesheet" href="{PREFIX}/{name}">\n' for name in STYLES)
    scripts = "".join(f'<script src="{PREFIX}/{name}" defer></script>\n' for name in SCRIPTS)
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n{styles}"
        "<style>body{margin:0}#graphiql{height:100vh}</style>\n"
        f"{scripts}</head>\n<body>\n"
        '<div id="graphiql"><p style="padding:1rem">Loading the explorer…</p>'
        "<noscript><p>The explorer needs JavaScript. Send GraphQL operations with "
        "<code>POST /graphql</code>.</p></noscript></div>\n</body>\n</html>\n"
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    return response


@blueprint.get(f"{PREFIX}/<name>")
async def asset(name: str) -> Response:
    if name not in _SERVED:
        abort(404)
    response = await send_from_directory(ASSETS, name)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
