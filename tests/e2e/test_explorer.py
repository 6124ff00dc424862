"""The GraphiQL explorer at `GET /graphql` loads everything from the API itself (offline)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Assets(HTMLParser):
    """The URLs a browser would fetch for the page: scripts, stylesheets, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name) and tag in ("script", "link", "img", "iframe"):
                self.urls.append(attrs[name])


def test_explorer_page_names_no_other_origin_and_its_assets_load(api):
    response = api.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.findall(r"(?:https?:|wss?:)?//[^\s\"'<>]+", html), "an external URL"

    parser = Assets()
    parser.feed(html)
    scripts = [url for url in parser.urls if url.endswith(".js")]
    styles = [url for url in parser.urls if url.endswith(".css")]
    assert len(scripts) >= 4 and len(styles) >= 1
    code = ""
    for url in parser.urls:
        assert url.startswith("/"), url
        asset = api.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
        code += asset.text if kind == "javascript" else ""
    # The scripts are React and GraphiQL themselves, not a loader that fetches them elsewhere.
    for defined in ("createRoot", "createFetcher", "explorerPlugin", 'getElementById("graphiql")'):
        assert defined in code, defined

    # The browser is told to fetch nothing from any other origin either.
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "http" not in csp


def test_unknown_explorer_assets_are_not_found(api):
    assert api.http.get("/graphiql/README.md").status_code == 404
    assert api.http.get("/graphiql/..%2Fapp.py").status_code == 404
