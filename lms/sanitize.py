"""Text from users: rich text sanitized with nh3 (an allowlist), plain text cleaned.

Rich text is stored sanitized, so every reader (API, emails, exports) gets safe HTML
without remembering to clean it. The allowlist is what a course description or a text
lesson needs: paragraphs, emphasis, lists, headings, quotes, code, links and tables.
Scripts, styles, event handlers, `javascript:` URLs and iframes never survive.
"""

from __future__ import annotations

import re
import unicodedata

import nh3

RICH_TEXT_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "sub",
        "sup",
        "mark",
        "small",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "blockquote",
        "code",
        "pre",
        "kbd",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "caption",
        "figure",
        "figcaption",
        "img",
        "span",
        "div",
    }
)
RICH_TEXT_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
    "code": {"class"},  # language hints for highlighters (class="language-python")
}
# Dropped with their content, not just unwrapped: their text is code or markup, not prose.
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "template", "iframe", "object", "noscript", "title"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]*>")


def rich_text(html: str | None) -> str:
    """Sanitized HTML: allowed tags and attributes only, links with rel=noopener, no scripts."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=set(RICH_TEXT_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in RICH_TEXT_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def plain_text(value: str | None) -> str:
    """One line of text: Unicode-normalized, control and bidi-override characters removed,
    whitespace collapsed."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", value)
    return _SPACES.sub(" ", _CONTROL.sub("", value)).strip()


def visible_text(html: str | None) -> str:
    """The text a reader sees in sanitized HTML (to judge whether a description is empty)."""
    return plain_text(_TAGS.sub(" ", html or "")).replace("&nbsp;", " ").strip()
