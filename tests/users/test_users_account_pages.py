"""The emailed links answered by the API's own HTML pages when no front end is configured.

A developer with only the API signs up from the email: opens the link from the `.eml` the
worker wrote, presses the button, and is verified; or sets a new password from a reset link.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import select
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update

from lms.db import session_scope
from lms.models import utcnow
from lms.users.models import OneTimeToken
from lms.users.service import token_hash
from tests.support import GraphQLClient, start_api
from tests.users.conftest import (
    FAST_HASH,
    LOGIN,
    ME,
    OUTBOX,
    PASSWORD,
    RELAXED_IP_LIMITS,
    codes,
    login,
    new_email,
    register,
)

REQUEST_RESET = "mutation($email: String!) { requestPasswordReset(input: {email: $email}) }"
NEW_PASSWORD = "amber lantern orbit 7"


class Forms(HTMLParser):
    """The page's forms as a browser sees them: method, action and the fields it would send."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.buttons: list[str] = []
        self._in_button = False
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"method": attrs.get("method"), "action": attrs.get("action")})
            self.forms[-1]["fields"] = {}
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "button":
            self._in_button = True
            self.buttons.append("")

    def handle_endtag(self, tag) -> None:
        if tag == "button":
            self._in_button = False

    def handle_data(self, data) -> None:
        if self._in_button:
            self.buttons[-1] += data


def emailed_link(mailbox, user_id: str, template: str, path: str, token: bool = True) -> str:
    """The link in the raw `.eml` the worker wrote, as a reader copies it from the file."""
    mailbox.latest(user_id, template)  # waits until the worker delivered it
    [job] = mailbox.jobs(user_id, template)[-1:]
    digest = hashlib.sha256(f"<{job.id}@lyceum.local>".encode()).hexdigest()[:20]
    [eml] = OUTBOX.glob(f"*-{digest}.eml")
    raw = eml.read_bytes().decode("utf-8")
    query = r"\?token=[A-Za-z0-9_-]+" if token else ""
    links = re.findall(rf"https?://[^\s\"<>/]+{path}{query}(?=[\s\"<])", raw)
    assert links and len(set(links)) == 1, links  # whole, and the same in every part
    return links[0]


def on_api(api, link: str) -> str:
    """The link's path and query: the test API listens on its own port, not the default."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def assert_safe_page(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "same-origin"  # the token stays here
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "script" not in csp
    assert '<html lang="en">' in response.text and "<h1>" in response.text
    assert not re.search(r"https?://", response.text), "the page names an external URL"


def verified(api, access_token: str) -> bool:
    return api.data(ME, token=access_token)["me"]["emailVerified"]


def test_a_refused_form_whose_body_comes_late_leaves_the_connection_usable(api):
    """A cross-site POST is refused only once its body is in: answered before, the server
    drops the connection, and the client's next request on it gets no answer at all."""
    address = urlsplit(api.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    body = b"token=anything"
    connection.putrequest("POST", "/verify-email")
    connection.putheader("Origin", "https://elsewhere.example")
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    # The body comes after a pause, as a slow client's would: a server that answers
    # without it answers within this second.
    select.select([connection.sock], [], [], 1.0)
    connection.send(body)
    refused = connection.getresponse()
    assert refused.status == 403 and b"its own page" in refused.read()
    connection.request("GET", "/verify-email?token=anything")  # the same connection
    page = connection.getresponse()
    assert page.status == 200 and b"Confirm email address" in page.read()
    connection.close()


def test_sign_up_is_completed_from_the_emailed_link_alone(api, mailbox):
    account = register(api, email=new_email())
    user = account["user"]
    link = emailed_link(mailbox, user["id"], "verify_email", "/verify-email")
    assert urlsplit(link).path == "/verify-email"

    # Opening the link (or a mail scanner fetching it) shows a button and spends nothing.
    for _ in range(2):
        page = api.http.get(on_api(api, link))
        assert page.status_code == 200
        assert_safe_page(page)
    [form] = Forms(page.text).forms
    assert form["method"] == "post" and form["action"] == "/verify-email"
    assert Forms(page.text).buttons == ["Confirm email address"]
    assert verified(api, account["accessToken"]) is False

    # A form posted from another site is refused and spends nothing either: as current
    # browsers label it, and as older ones do (by Origin alone).
    for elsewhere in (
        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        {"Origin": "https://elsewhere.example"},
    ):
        refused = api.http.post(form["action"], data=form["fields"], headers=elsewhere)
        assert refused.status_code == 403 and "its own page" in refused.text
    assert verified(api, account["accessToken"]) is False

    # Pressing the button, as a browser on this page does.
    browser = {"Sec-Fetch-Site": "same-origin", "Origin": api.base_url}
    done = api.http.post(form["action"], data=form["fields"], headers=browser)
    assert done.status_code == 200
    assert_safe_page(done)
    assert "Email address confirmed" in done.text and user["email"] in done.text
    assert verified(api, account["accessToken"]) is True
    welcome = emailed_link(mailbox, user["id"], "welcome", "/login", token=False)
    sign_in = api.http.get(urlsplit(welcome).path)  # the welcome email's link answers too
    assert sign_in.status_code == 200 and 'href="/graphql"' in sign_in.text

    again = api.http.post(form["action"], data=form["fields"], headers=browser)
    assert again.status_code == 400 and "This link was already used" in again.text


def test_a_new_password_is_set_from_the_emailed_link_and_signs_in(api, mailbox):
    address = new_email()
    account = register(api, email=address)
    api.data(REQUEST_RESET, {"email": address})
    link = emailed_link(mailbox, account["user"]["id"], "password_reset", "/reset-password")

    page = api.http.get(on_api(api, link))
    assert page.status_code == 200
    assert_safe_page(page)
    [form] = Forms(page.text).forms
    assert form["method"] == "post" and form["action"] == "/reset-password"
    assert form["fields"]["username"] == address  # for the browser's password manager
    assert '<label for="password">' in page.text and '<label for="confirm">' in page.text

    def send(password: str, confirm: str) -> httpx.Response:
        fields = {**form["fields"], "password": password, "confirm": confirm}
        browser = {"Sec-Fetch-Site": "same-origin", "Origin": api.base_url}
        return api.http.post(form["action"], data=fields, headers=browser)

    mismatch = send(NEW_PASSWORD, NEW_PASSWORD + "!")
    assert mismatch.status_code == 400 and "The two passwords are not the same" in mismatch.text
    weak = send("short", "short")
    assert weak.status_code == 400
    assert 'role="alert"' in weak.text and "at least 10 characters" in weak.text
    assert Forms(weak.text).forms, "the form stays, so the person can try again"
    assert login(api, address)["user"]["email"] == address  # nothing changed so far

    done = send(NEW_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 200 and "Password changed" in done.text
    assert login(api, address, NEW_PASSWORD)["user"]["email"] == address
    assert codes(api.execute(LOGIN, {"input": {"email": address, "password": PASSWORD}})) == [
        "INVALID_CREDENTIALS"
    ]

    used = api.http.get(on_api(api, link))
    assert used.status_code == 400 and "This link was already used" in used.text
    assert not Forms(used.text).forms


def test_an_expired_reset_link_says_so(api, mailbox):
    address = new_email()
    account = register(api, email=address)
    api.data(REQUEST_RESET, {"email": address})
    link = emailed_link(mailbox, account["user"]["id"], "password_reset", "/reset-password")
    token = urlsplit(link).query.removeprefix("token=")
    with session_scope() as session:
        session.execute(
            update(OneTimeToken)
            .where(OneTimeToken.token_hash == token_hash(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page = api.http.get(on_api(api, link))
    assert page.status_code == 400 and "This link expired" in page.text
    assert_safe_page(page)


@pytest.fixture(scope="module")
def api_with_front_end():
    process, base_url = start_api(
        env={**FAST_HASH, **RELAXED_IP_LIMITS, "LMS_APP_URL": "https://app.lyceum.test"}
    )
    client = GraphQLClient(base_url)
    yield client
    client.close()
    process.stop()


def test_with_a_front_end_the_links_go_there_and_the_api_serves_no_pages(
    api_with_front_end, mailbox
):
    api = api_with_front_end
    account = register(api, email=new_email())
    link = emailed_link(mailbox, account["user"]["id"], "verify_email", "/verify-email")
    assert link.startswith("https://app.lyceum.test/verify-email?token=")
    assert api.http.get(on_api(api, link)).status_code == 404
