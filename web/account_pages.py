"""The emailed account links as small HTML pages, for when no front end is configured.

Without `LMS_APP_URL` the links in emails point at the API itself (`/verify-email?token=…`,
`/reset-password?token=…`, the welcome email's `/login`); these pages answer them. A GET only
shows a form: link previews and mail scanners fetch links, so the token is spent only by the POST
the person sends.
Both POSTs call the same services as the `verifyEmail` and `resetPassword` mutations.

The pages need no cookies and carry no script; a POST must come from this origin (Origin /
Sec-Fetch-Site), and the CSP, the referrer policy and `no-store` keep the token where it is.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import urlsplit

from quart import Blueprint, Response, current_app, request

from lms.errors import LmsError
from lms.users import flows, service
from web.context import Context

blueprint = Blueprint("account_pages", __name__)

STYLE = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1f2933;background:#f4f5f7}
main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:6px;
border:1px solid #d9dde3}
h1{font-size:1.4rem;margin-top:0}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;
border:1px solid #7b8794;border-radius:4px}
input[readonly]{background:#f4f5f7}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;color:#fff;
background:#3451b2;border:0;border-radius:4px;cursor:pointer}
:focus-visible{outline:3px solid #f0b429;outline-offset:2px}
.hint{font-size:.9rem;color:#52606d;margin:.25rem 0 0}
.error{padding:.75rem 1rem;border-left:4px solid #b42318;background:#fef3f2;color:#7a271a}
.done{padding:.75rem 1rem;border-left:4px solid #0e7c48;background:#ecfdf3;color:#05603a}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# No script at all; the only style is the one above; forms post back here only.
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_SAME_SITE_FETCH = {"same-origin", "none"}
# There is no front end to sign in with: point at the API's own explorer.
SIGN_IN = (
    "<p>Sign in with the <code>login</code> mutation, for example in the "
    '<a href="/graphql">GraphQL explorer</a> of this server.</p>'
)


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} · Lyceum</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    # The URL carries the token: it never goes to another origin as a Referer. Not
    # `no-referrer`, with which browsers send `Origin: null` on the page's own form POST.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _alert(message: str) -> str:
    return f'<p class="error" role="alert" id="problem">{escape(_sentence(message))}</p>\n'


def _runner() -> Context:
    return Context(current_app.config["LMS_SERVICES"])


def _cross_site() -> bool:
    """True when a browser says this POST comes from another site's page (CSRF)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:  # current browsers: their word settles it
        return fetch_site not in _SAME_SITE_FETCH
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # old browsers and non-browser clients send none
    settings = current_app.config["LMS_SERVICES"].settings
    public = urlsplit(settings.public_url)
    own = {f"{request.scheme}://{request.host}", f"{public.scheme}://{public.netloc}"}
    return origin not in own


def _refused() -> Response:
    """The refusal, sent once the request's body is read: a response finished before the
    body arrived makes the server drop the connection, and a client that sends its next
    request on it gets no answer at all."""
    return _page(
        "Request refused",
        _alert("this form can only be sent from its own page; open the link from the email again"),
        403,
    )


# --------------------------------------------------------------------------- confirm email


def _confirm_form(token: str, problem: str | None = None) -> str:
    return (
        (_alert(problem) if problem else "")
        + "<p>Press the button to confirm that this email address is yours.</p>\n"
        + '<form method="post" action="/verify-email">\n'
        + f'<input type="hidden" name="token" value="{escape(token)}">\n'
        + '<button type="submit">Confirm email address</button>\n</form>'
    )


@blueprint.get("/verify-email")
async def confirm_email_page() -> Response:
    token = request.args.get("token", "")
    if not token:
        return _page("Confirm your email address", _alert("this link has no token"), 400)
    return _page("Confirm your email address", _confirm_form(token))


@blueprint.post("/verify-email")
async def confirm_email() -> Response:
    form = await request.form  # read first: see _refused
    if _cross_site():
        return _refused()
    try:
        user = await _runner().write(service.verify_email, token=form.get("token", ""))
    except LmsError as error:
        return _page("Email not confirmed", _alert(error.message), 400)
    return _page(
        "Email address confirmed",
        f'<p class="done" role="status">{escape(user["email"])} is confirmed.</p>\n{SIGN_IN}',
    )


# --------------------------------------------------------------------------- reset password


def _reset_form(token: str, email: str, min_length: int, problem: str | None = None) -> str:
    described = ' aria-describedby="problem rule"' if problem else ' aria-describedby="rule"'
    invalid = ' aria-invalid="true"' if problem else ""
    return (
        (_alert(problem) if problem else "")
        + '<form method="post" action="/reset-password">\n'
        + f'<input type="hidden" name="token" value="{escape(token)}">\n'
        # Shows whose password this is, and lets password managers file it under that account.
        + '<label for="username">Account</label>\n'
        + '<input id="username" name="username" type="email" autocomplete="username" '
        + f'value="{escape(email)}" readonly>\n'
        + '<label for="password">New password</label>\n'
        + '<input id="password" name="password" type="password" autocomplete="new-password" '
        + f'required minlength="{min_length}"{described}{invalid}>\n'
        + f'<p class="hint" id="rule">At least {min_length} characters.</p>\n'
        + '<label for="confirm">Repeat the new password</label>\n'
        + '<input id="confirm" name="confirm" type="password" autocomplete="new-password" '
        + f'required minlength="{min_length}"{invalid}>\n'
        + '<button type="submit">Set new password</button>\n</form>'
    )


@blueprint.get("/reset-password")
async def reset_password_page() -> Response:
    title = "Choose a new password"
    token = request.args.get("token", "")
    runner = _runner()
    try:  # a read: the token stays valid
        email = await runner.read(service.reset_target, token=token)
    except LmsError as error:
        return _page(title, _alert(error.message), 400)
    return _page(title, _reset_form(token, email, runner.settings.password_min_length))


@blueprint.post("/reset-password")
async def reset_password() -> Response:
    form = await request.form  # read first: see _refused
    if _cross_site():
        return _refused()
    title = "Choose a new password"
    token, password = form.get("token", ""), form.get("password", "")
    runner = _runner()
    try:
        email = await runner.read(service.reset_target, token=token)
    except LmsError as error:
        return _page(title, _alert(error.message), 400)
    min_length = runner.settings.password_min_length
    if password != form.get("confirm", ""):
        problem = "the two passwords are not the same"
        return _page(title, _reset_form(token, email, min_length, problem), 400)
    try:
        await flows.reset_password(runner, token=token, new_password=password)
    except LmsError as error:
        return _page(title, _reset_form(token, email, min_length, error.message), 400)
    return _page(
        "Password changed",
        '<p class="done" role="status">Your password is changed and every session was signed '
        f"out.</p>\n{SIGN_IN}",
    )


@blueprint.get("/login")
async def sign_in_page() -> Response:
    """Where the welcome email's sign-in link lands when there is no front end."""
    return _page("Sign in", SIGN_IN)
