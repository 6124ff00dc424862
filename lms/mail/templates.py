"""Rendering of transactional emails from the templates in `lms/templates/email/`.

Each template NAME is three files: `NAME.subject.txt` (one line), `NAME.txt` (plain text
body) and `NAME.html` (HTML body, autoescaped). Missing variables fail loudly
(`StrictUndefined`), so a half-filled email is never sent.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from lms.errors import PermanentJobError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
SITE_NAME = "Lyceum"
MAX_LINE_OCTETS = 998  # without the CRLF

_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["site_name"] = SITE_NAME
    return env


def template_names() -> list[str]:
    """Names of the complete email templates (subject, text and HTML) shipped in the repo."""
    names = []
    for subject in sorted(TEMPLATES_DIR.glob("*.subject.txt")):
        name = subject.name[: -len(".subject.txt")]
        if _TEMPLATE_NAME.match(name) and _template_files(name) is not None:
            names.append(name)
    return names


def _template_files(name: str) -> tuple[str, str, str] | None:
    files = (f"{name}.subject.txt", f"{name}.txt", f"{name}.html")
    present = [(TEMPLATES_DIR / f).is_file() for f in files]
    if not any(present):
        return None
    if not all(present):
        missing = ", ".join(f for f, ok in zip(files, present) if not ok)
        raise PermanentJobError(
            f"email template {name!r} is incomplete: missing {missing}", code="TEMPLATE_ERROR"
        )
    return files


def _render(env: jinja2.Environment, file: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(file).render(context)
    except jinja2.UndefinedError as exc:
        raise PermanentJobError(
            f"email template {file}: {exc.message}", code="TEMPLATE_ERROR"
        ) from exc
    except jinja2.TemplateError as exc:
        raise PermanentJobError(f"email template {file}: {exc}", code="TEMPLATE_ERROR") from exc


def _has_newline(value: str) -> bool:
    return any(ch in value for ch in "\r\n\x00\u2028\u2029\x0b\x0c\x85")


def parse_address(value: str, *, code: str, what: str) -> Address:
    """Parse one mailbox (`a@b.example` or `Name <a@b.example>`), or raise PermanentJobError."""
    if not isinstance(value, str) or not value.strip():
        raise PermanentJobError(f"{what} address is empty", code=code)
    if _has_newline(value):
        raise PermanentJobError(f"{what} address contains a line break", code=code)
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise PermanentJobError(f"{what} must be exactly one address: {value!r}", code=code)
    display_name, addr = parsed[0]
    if addr.count("@") != 1:
        raise PermanentJobError(f"{what} is not a valid email address: {value!r}", code=code)
    local, domain = addr.split("@")
    if len(local) > 64 or not _LOCAL_PART.match(local):
        raise PermanentJobError(f"{what} is not a valid email address: {value!r}", code=code)
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise PermanentJobError(f"{what} has an invalid domain: {value!r}", code=code) from None
    labels = ascii_domain.rstrip(".").split(".") if ascii_domain else []
    if (
        len(ascii_domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise PermanentJobError(f"{what} has an invalid domain: {value!r}", code=code)
    # The parser must have consumed the whole value: "a@b.example junk" is not an address.
    canonical = f"{local}@{domain}"
    stripped = value.strip()
    if display_name:
        if not stripped.endswith(f"<{canonical}>") and not stripped.endswith(f"< {canonical} >"):
            raise PermanentJobError(f"{what} is not a valid email address: {value!r}", code=code)
    elif stripped not in (canonical, f"<{canonical}>"):
        raise PermanentJobError(f"{what} is not a valid email address: {value!r}", code=code)
    try:
        return Address(display_name=display_name, username=local, domain=ascii_domain.rstrip("."))
    except (ValueError, TypeError) as exc:
        raise PermanentJobError(f"{what} is not a valid email address: {exc}", code=code) from exc


def render_email(
    template: str,
    context: dict[str, Any],
    *,
    to: str,
    sender: str,
    reply_to: str | None = None,
    message_id_domain: str = "lyceum.local",
    message_id: str | None = None,
) -> EmailMessage:
    """Render template NAME into a multipart/alternative (text + HTML) message, ready to send.

    `message_id` (`<id@domain>`) may be given to make a re-rendered message keep the same
    identity (idempotent re-sends); by default a fresh one is made on `message_id_domain`.
    """
    if not isinstance(template, str) or not _TEMPLATE_NAME.match(template):
        raise PermanentJobError(f"unknown email template {template!r}", code="UNKNOWN_TEMPLATE")
    files = _template_files(template)
    if files is None:
        raise PermanentJobError(f"unknown email template {template!r}", code="UNKNOWN_TEMPLATE")

    to_addr = parse_address(to, code="INVALID_RECIPIENT", what="recipient")
    from_addr = parse_address(sender, code="INVALID_HEADER", what="sender")
    reply_addr = (
        parse_address(reply_to, code="INVALID_HEADER", what="reply-to")
        if reply_to is not None
        else None
    )
    if message_id is None:
        if _has_newline(message_id_domain) or not re.match(
            r"^[A-Za-z0-9.-]+$", message_id_domain or ""
        ):
            raise PermanentJobError(
                f"invalid Message-ID domain {message_id_domain!r}", code="INVALID_HEADER"
            )
        message_id = make_msgid(domain=message_id_domain)
    elif _has_newline(message_id) or not _MESSAGE_ID.match(message_id):
        raise PermanentJobError(f"invalid Message-ID {message_id!r}", code="INVALID_HEADER")

    env = _environment()
    ctx = dict(context or {})
    subject_file, text_file, html_file = files
    subject = _render(env, subject_file, ctx).strip()
    if _has_newline(subject):
        raise PermanentJobError("email subject contains a line break", code="INVALID_HEADER")
    if not subject:
        raise PermanentJobError(f"email template {subject_file} is empty", code="TEMPLATE_ERROR")
    text = _render(env, text_file, ctx).strip() + "\n"
    html = _render(env, html_file, ctx).strip() + "\n"

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = from_addr
    msg["To"] = to_addr
    if reply_addr is not None:
        msg["Reply-To"] = reply_addr
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Lyceum-Template"] = template
    msg.set_content(text, subtype="plain", charset="utf-8", cte=transfer_encoding(text))
    msg.add_alternative(html, subtype="html", charset="utf-8", cte=transfer_encoding(html))
    return msg


def transfer_encoding(body: str) -> str:
    """`7bit`/`8bit` (the raw file reads as written, links whole) when every line fits SMTP's
    998-octet limit (RFC 5322 2.1.1); quoted-printable only for a body with longer lines."""
    lines = body.encode("utf-8").splitlines()
    if any(len(line) > MAX_LINE_OCTETS for line in lines):
        return "quoted-printable"
    return "7bit" if body.isascii() else "8bit"
