"""The page behind the emailed "unlock sign-in" link, for when no front end serves it.

GET shows a button and changes nothing (mail scanners open links); POST lifts the locks
through the same flow as the `unlockSignIn` mutation.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from quart import Blueprint, Response, current_app, request

from lms.errors import LmsError
from lms.users import flows
from web.context import Context

CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
PAGE = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"), autoescape=True
).get_template("unlock_sign_in.html")

blueprint = Blueprint("unlock_page", __name__)


def _page(heading: str, message: str, token: str | None = None, status: int = 200) -> Response:
    return Response(
        PAGE.render(heading=heading, message=message, token=token),
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


@blueprint.get("/unlock-sign-in")
async def confirm() -> Response:
    token = request.args.get("token", "")[:300]
    if not token:
        return _page("Unlock sign-in", "This link has no token: open it from the email.", None, 400)
    return _page("Unlock sign-in", "Let every device try your password again?", token)


@blueprint.post("/unlock-sign-in")
async def unlock() -> Response:
    token = (await request.form).get("token", "")[:300]
    try:
        await flows.unlock_sign_in(Context(current_app.config["LMS_SERVICES"]), token=token)
    except LmsError as error:  # a forged, altered or expired link
        return _page("Unlock sign-in", error.message, None, 400)
    return _page("Sign-in unlocked", "You can sign in again from any device.")
