"""One-click unsubscribe (RFC 8058) for the link in every notification email.

Mail clients POST `List-Unsubscribe=One-Click` to the URL of the `List-Unsubscribe` header,
from their own servers: the signed token is the authorization, so no origin check applies.
A GET (a person following the link, or a scanner) only shows a button that POSTs.
"""

from __future__ import annotations

from html import escape

from quart import Blueprint, Response, request

from lms.errors import LmsError
from lms.notifications.service.unsubscribe import unsubscribe
from web.account_pages import _alert, _page, _runner

blueprint = Blueprint("notifications_http", __name__)
PATH = "/notifications/unsubscribe"


@blueprint.get(PATH)
async def unsubscribe_page() -> Response:
    token = request.args.get("token", "")
    form = (
        "<p>Stop emails of this kind? In-app notifications continue; change it back in your "
        "notification preferences.</p>\n"
        f'<form method="post" action="{PATH}?token={escape(token)}">\n'
        '<button type="submit">Unsubscribe</button>\n</form>'
    )
    return _page("Unsubscribe", form)


@blueprint.post(PATH)
async def unsubscribe_now() -> Response:
    # RFC 8058's body ("List-Unsubscribe=One-Click") says nothing the token does not, but it
    # is read before answering: a response finished before the body arrived drops the
    # connection under the client's next request.
    await request.get_data()
    try:
        kind = await _runner().write(unsubscribe, request.args.get("token", ""))
    except (LmsError, ValueError) as error:
        message = error.message if isinstance(error, LmsError) else "this link is not valid"
        return _page("Not unsubscribed", _alert(message), 400)
    label = kind.value.replace("_", " ").lower()
    return _page(
        "Unsubscribed",
        f'<p class="done" role="status">You will get no more {escape(label)} emails.</p>',
    )
