"""Mail transports chosen by URL (`LMS_EMAIL_URL`): an outbox folder, SMTP, or SendGrid.

    outbox:var/outbox                  relative to the working directory (the default)
    outbox:///srv/lyceum/outbox        absolute
    smtp://user:pass@host:587?starttls=1&timeout=10
    smtps://user:pass@host:465         implicit TLS
    sendgrid://API_KEY@                api.sendgrid.com
    sendgrid+https://API_KEY@host:port another SendGrid-compatible host (tests, proxies)
    sendgrid+http://API_KEY@host:port

SMTP URLs also take `cafile=/path/ca.pem` to trust a private CA. Failures raise
`TransientJobError` (retry later) or `PermanentJobError` (never retry), with stable codes.
Secrets from the URL never appear in messages or reprs.

Sending once: the outbox keeps the first file written for a Message-ID and skips later
sends of it; SMTP calls `point_of_no_return()` right before the line that ends DATA (after
it the server may deliver even if its answer is lost), so the caller can record the send
first; SendGrid carries `idempotency_key` as a custom arg and a header.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import tempfile
import urllib.error
import http.client
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from lms.errors import PermanentJobError, TransientJobError

DEFAULT_TIMEOUT = 10.0
SENDGRID_HOST = "https://api.sendgrid.com"

_SCHEMES = ("outbox", "smtp", "smtps", "sendgrid", "sendgrid+http", "sendgrid+https")
_SMTP_PARAMS = {"starttls", "timeout", "cafile"}
_SENDGRID_PARAMS = {"timeout"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class MailBackend(Protocol):
    """Something that delivers a rendered message."""

    scheme: str

    def send(
        self,
        message: EmailMessage,
        *,
        idempotency_key: str | None = None,
        point_of_no_return: Callable[[], None] | None = None,
    ) -> str:
        """Deliver `message`; return the provider's message id (or the written file path).
        `point_of_no_return` is called once the provider may have the message even if the
        call then fails (SMTP: before the end of DATA); nothing is delivered before it."""
        ...


# --------------------------------------------------------------------------- URL parsing


def _query(parts, allowed: set[str]) -> dict[str, str]:
    try:
        raw = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"malformed query string {parts.query!r}") from None
    unknown = sorted(set(raw) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"unknown parameter {unknown[0]!r} (known: {known})")
    for key, values in raw.items():
        if len(values) > 1:
            raise ValueError(f"parameter {key!r} given more than once")
    return {k: v[0] for k, v in raw.items()}


def _timeout(params: dict[str, str]) -> float:
    if "timeout" not in params:
        return DEFAULT_TIMEOUT
    try:
        value = float(params["timeout"])
    except ValueError:
        reason = f"timeout must be a number of seconds, not {params['timeout']!r}"
        raise ValueError(reason) from None
    if not 0 < value <= 600:
        raise ValueError("timeout must be between 0 and 600 seconds")
    return value


def _flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "0").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 or 0, not {params[name]!r}")


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise ValueError("port must be a number between 1 and 65535") from None


@dataclass(frozen=True)
class _OutboxConfig:
    directory: Path


@dataclass(frozen=True)
class _SmtpConfig:
    implicit_tls: bool
    host: str
    port: int
    username: str | None = field(repr=False)
    password: str | None = field(repr=False)
    starttls: bool
    timeout: float
    cafile: str | None


@dataclass(frozen=True)
class _SendGridConfig:
    api_key: str = field(repr=False)
    host: str
    timeout: float


def _parse(url: str) -> _OutboxConfig | _SmtpConfig | _SendGridConfig:
    if not isinstance(url, str) or not url.strip():
        raise ValueError("email URL is empty")
    if any(ch in url for ch in "\r\n\t\x00") or url != url.strip():
        raise ValueError("email URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"malformed email URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise ValueError("email URL has no scheme (expected one of: " + ", ".join(_SCHEMES) + ")")
    if scheme not in _SCHEMES:
        raise ValueError(
            f"unsupported email URL scheme {scheme!r} (expected one of: {', '.join(_SCHEMES)})"
        )
    if parts.fragment:
        raise ValueError("email URL must not have a #fragment")

    if scheme == "outbox":
        if parts.query:
            raise ValueError("outbox URL takes no parameters")
        if parts.netloc:
            raise ValueError(
                "outbox URL must be outbox:relative/path or outbox:///absolute/path "
                f"(got host {parts.netloc!r})"
            )
        path = unquote(parts.path)
        if not path:
            raise ValueError("outbox URL needs a directory, e.g. outbox:var/outbox")
        return _OutboxConfig(directory=Path(path).absolute())

    if scheme in ("smtp", "smtps"):
        params = _query(parts, _SMTP_PARAMS)
        if not parts.hostname:
            raise ValueError(f"{scheme} URL needs a host, e.g. {scheme}://user:pass@mail.test")
        if parts.path not in ("", "/"):
            raise ValueError(f"{scheme} URL must not have a path")
        port = _port(parts)
        starttls = _flag(params, "starttls")
        if scheme == "smtps" and starttls:
            raise ValueError("smtps uses implicit TLS: starttls=1 is only for smtp://")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if password is not None and not username:
            raise ValueError(f"{scheme} URL has a password but no user name")
        cafile = params.get("cafile") or None
        if cafile is not None and scheme == "smtp" and not starttls:
            raise ValueError("cafile is only used with TLS (smtps:// or starttls=1)")
        return _SmtpConfig(
            implicit_tls=scheme == "smtps",
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 25),
            username=username or None,
            password=password,
            starttls=starttls,
            timeout=_timeout(params),
            cafile=cafile,
        )

    # sendgrid, sendgrid+http, sendgrid+https
    params = _query(parts, _SENDGRID_PARAMS)
    api_key = unquote(parts.username) if parts.username else ""
    if parts.password is not None:
        api_key = f"{api_key}:{unquote(parts.password)}"
    if not api_key:
        raise ValueError(f"{scheme} URL needs an API key: {scheme}://API_KEY@")
    if parts.path not in ("", "/"):
        raise ValueError(f"{scheme} URL must not have a path")
    port = _port(parts)
    if scheme == "sendgrid":
        if parts.hostname:
            raise ValueError(
                "sendgrid://API_KEY@ takes no host; use sendgrid+https://API_KEY@host:port "
                "for another server"
            )
        host = SENDGRID_HOST
    else:
        if not parts.hostname:
            raise ValueError(f"{scheme} URL needs a host: {scheme}://API_KEY@host:port")
        hostname = parts.hostname
        if ":" in hostname:
            hostname = f"[{hostname}]"
        http_scheme = scheme.split("+", 1)[1]
        host = f"{http_scheme}://{hostname}" + (f":{port}" if port else "")
    return _SendGridConfig(api_key=api_key, host=host, timeout=_timeout(params))


def validate_email_url(url: str) -> None:
    """Raise ValueError with a one-line reason if `url` is not a usable email URL."""
    _parse(url)


def mail_backend(url: str) -> MailBackend:
    """The backend for an email URL (see the module docstring); raises ValueError if invalid."""
    config = _parse(url)
    if isinstance(config, _OutboxConfig):
        return OutboxBackend(config.directory)
    if isinstance(config, _SmtpConfig):
        return SmtpBackend(config)
    return SendGridBackend(config)


# --------------------------------------------------------------------------- helpers


def _ensure_message_id(message: EmailMessage) -> str:
    """The message's Message-ID, adding one if it has none."""
    message_id = message.get("Message-ID")
    if not message_id:
        message_id = make_msgid(domain="lyceum.local")
        message["Message-ID"] = message_id
    return str(message_id).strip()


def _addresses(message: EmailMessage, *headers: str) -> list[tuple[str, str]]:
    values = [str(v) for h in headers for v in message.get_all(h, [])]
    return [(name, addr) for name, addr in getaddresses(values) if addr]


# --------------------------------------------------------------------------- outbox


class OutboxBackend:
    """Writes each message as `<timestamp>-<message-id-hash>.eml` into a folder.

    Files appear atomically (temp file in the same folder, then `os.replace`). A message
    whose Message-ID is already in the outbox is not written again (sent once).
    """

    scheme = "outbox"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxBackend({str(self.directory)!r})"

    @staticmethod
    def _stamp(message: EmailMessage) -> str:
        when = None
        if message.get("Date"):
            try:
                when = parsedate_to_datetime(str(message["Date"]))
            except (TypeError, ValueError):
                when = None
        if when is None:
            when = datetime.now(timezone.utc)
        elif when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    def path_for(self, message: EmailMessage) -> Path:
        """Where `message` is (or would be) written."""
        message_id = _ensure_message_id(message)
        digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:20]
        existing = sorted(self.directory.glob(f"*-{digest}.eml"))
        if existing:
            return existing[0]
        return self.directory / f"{self._stamp(message)}-{digest}.eml"

    def send(
        self,
        message: EmailMessage,
        *,
        idempotency_key: str | None = None,
        point_of_no_return: Callable[[], None] | None = None,
    ) -> str:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.path_for(message)
            if target.exists():  # this Message-ID was sent already: never twice
                return str(target)
            if point_of_no_return is not None:
                point_of_no_return()
            data = message.as_bytes(policy=policy.SMTP)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".eml.part", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except BaseException:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                raise
            self._fsync_dir()
        except OSError as exc:
            raise TransientJobError(
                f"cannot write to the outbox {self.directory}: {exc.strerror or exc}",
                code="OUTBOX_UNAVAILABLE",
            ) from exc
        return str(target)

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- SMTP


def _smtp_error(exc: smtplib.SMTPResponseException, what: str) -> Exception:
    code = exc.smtp_code
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    detail = f"{what}: {code} {text}".strip()
    if 400 <= code < 500:
        return TransientJobError(detail, code="SMTP_TEMPORARY", smtp_code=code)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentJobError(detail, code="SMTP_AUTH_FAILED", smtp_code=code)
    if 500 <= code < 600:
        return PermanentJobError(detail, code="SMTP_REJECTED", smtp_code=code)
    # -1 and other oddities: the server misbehaved; try again later.
    return TransientJobError(detail, code="SMTP_UNAVAILABLE", smtp_code=code)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye without letting a bad QUIT answer turn a delivered message into an error."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


class _EndOfData:
    """smtplib's DATA with a hook before the final "." line: before it the server delivers
    nothing (a dropped connection aborts the transaction); after it the message may be
    delivered even if the 250 never comes back, so that is where a send is recorded."""

    point_of_no_return: Callable[[], None] | None = None

    def data(self, msg):
        if self.point_of_no_return is None:
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")
        body = smtplib._quote_periods(msg)
        if body[-2:] != smtplib.bCRLF:
            body += smtplib.bCRLF
        self.send(body)
        try:
            self.point_of_no_return()
        except BaseException:
            self.close()  # hang up mid-DATA: the server drops the unfinished message
            raise
        self.send(b"." + smtplib.bCRLF)
        return self.getreply()


class _SMTP(_EndOfData, smtplib.SMTP):
    pass


class _SMTP_SSL(_EndOfData, smtplib.SMTP_SSL):
    pass


class SmtpBackend:
    """Sends over SMTP (plain, STARTTLS or implicit TLS), one connection per message."""

    def __init__(self, config: _SmtpConfig) -> None:
        self.config = config
        self.scheme = "smtps" if config.implicit_tls else "smtp"

    def __repr__(self) -> str:
        c = self.config
        tls = " starttls" if c.starttls else ""
        return f"SmtpBackend({self.scheme}://{c.host}:{c.port}{tls})"

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.implicit_tls:
            return _SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._tls_context())
        return _SMTP(c.host, c.port, timeout=c.timeout)

    def send(
        self,
        message: EmailMessage,
        *,
        idempotency_key: str | None = None,
        point_of_no_return: Callable[[], None] | None = None,
    ) -> str:
        c = self.config
        message_id = _ensure_message_id(message)
        where = f"{c.host}:{c.port}"
        try:
            smtp = self._connect()
            smtp.point_of_no_return = point_of_no_return
            try:
                self._session(smtp, message, where)
            finally:
                _quit(smtp)
        except (PermanentJobError, TransientJobError):
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{rcpt}: {code} "
                f"{msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                for rcpt, (code, msg) in exc.recipients.items()
            )
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientJobError(
                    f"recipient deferred by {where}: {detail}", code="SMTP_TEMPORARY"
                ) from exc
            raise PermanentJobError(
                f"recipient refused by {where}: {detail}", code="SMTP_REJECTED"
            ) from exc
        except smtplib.SMTPConnectError as exc:
            raise TransientJobError(
                f"SMTP server {where} refused the connection", code="SMTP_UNAVAILABLE"
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise _smtp_error(exc, f"sender refused by {where}") from exc
        except smtplib.SMTPDataError as exc:
            raise _smtp_error(exc, f"message refused by {where}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc, f"SMTP server {where} answered") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentJobError(
                f"SMTP server {where} does not support what is needed: {exc}",
                code="SMTP_REJECTED",
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise TransientJobError(
                f"SMTP server {where} closed the connection: {exc}", code="SMTP_UNAVAILABLE"
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentJobError(
                f"TLS certificate of {where} not trusted: {exc.verify_message}",
                code="SMTP_TLS_FAILED",
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientJobError(
                f"SMTP exchange with {where} failed: {exc}", code="SMTP_UNAVAILABLE"
            ) from exc
        except UnicodeError as exc:
            raise PermanentJobError(
                f"message cannot be sent to {where} without SMTPUTF8: {exc}",
                code="SMTP_REJECTED",
            ) from exc
        return message_id

    def _session(self, smtp: smtplib.SMTP, message: EmailMessage, where: str) -> None:
        c = self.config
        smtp.ehlo_or_helo_if_needed()
        if c.starttls:
            if not smtp.has_extn("starttls"):
                raise PermanentJobError(
                    f"SMTP server {where} does not offer STARTTLS", code="SMTP_REJECTED"
                )
            smtp.starttls(context=self._tls_context())
            smtp.ehlo()
        if c.username:
            try:
                smtp.login(c.username, c.password or "")
            except smtplib.SMTPNotSupportedError as exc:
                raise PermanentJobError(
                    f"SMTP server {where} does not offer AUTH (is TLS required?)",
                    code="SMTP_AUTH_FAILED",
                ) from exc
            except smtplib.SMTPAuthenticationError as exc:
                raise _smtp_error(exc, f"authentication at {where} failed") from exc
            except smtplib.SMTPException as exc:
                passing = (smtplib.SMTPResponseException, smtplib.SMTPServerDisconnected)
                if isinstance(exc, passing):
                    raise
                raise PermanentJobError(
                    f"authentication at {where} failed: {exc}", code="SMTP_AUTH_FAILED"
                ) from exc
        # A partial refusal (some recipients accepted) is not raised: the message is out,
        # and a retry would send duplicates to the recipients that accepted it.
        smtp.send_message(message)


# --------------------------------------------------------------------------- SendGrid


def _to_sendgrid_mail(message: EmailMessage, message_id: str, idempotency_key: str | None = None):
    from sendgrid.helpers.mail import (
        Bcc,
        Cc,
        CustomArg,
        From,
        Header,
        HtmlContent,
        Mail,
        PlainTextContent,
        ReplyTo,
        Subject,
        To,
    )

    senders = _addresses(message, "From")
    if len(senders) != 1:
        raise PermanentJobError("message needs exactly one From address", code="INVALID_HEADER")
    to = _addresses(message, "To")
    if not to:
        raise PermanentJobError("message has no To address", code="INVALID_RECIPIENT")
    subject = str(message.get("Subject", "")).strip()
    if not subject:
        raise PermanentJobError("message has no Subject", code="INVALID_HEADER")
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else None
    html = html_part.get_content() if html_part is not None else None
    if not text and not html:
        raise PermanentJobError("message has no text or HTML body", code="TEMPLATE_ERROR")

    mail = Mail(
        from_email=From(senders[0][1], senders[0][0] or None),
        to_emails=[To(addr, name or None) for name, addr in to],
        subject=Subject(subject),
        plain_text_content=PlainTextContent(text) if text else None,
        html_content=HtmlContent(html) if html else None,
    )
    for name, addr in _addresses(message, "Cc"):
        mail.add_cc(Cc(addr, name or None))
    for name, addr in _addresses(message, "Bcc"):
        mail.add_bcc(Bcc(addr, name or None))
    reply = _addresses(message, "Reply-To")
    if reply:
        mail.reply_to = ReplyTo(reply[0][1], reply[0][0] or None)
    mail.header = Header("X-Lyceum-Message-Id", message_id)
    template = message.get("X-Lyceum-Template")
    if template:
        mail.header = Header("X-Lyceum-Template", str(template))
    mail.custom_arg = CustomArg("lyceum_message_id", message_id)
    if idempotency_key:
        # Carried to SendGrid's event webhooks and the recipient, so a send repeated after
        # a crash between SendGrid's 202 and our record can be recognised downstream.
        mail.header = Header("X-Lyceum-Idempotency-Key", idempotency_key)
        mail.custom_arg = CustomArg("lyceum_idempotency_key", idempotency_key)
    return mail


class SendGridBackend:
    """Sends through the SendGrid v3 API with the official `sendgrid` library."""

    def __init__(self, config: _SendGridConfig) -> None:
        self.config = config
        self.scheme = "sendgrid"

    def __repr__(self) -> str:
        return f"SendGridBackend({self.config.host})"

    def send(
        self,
        message: EmailMessage,
        *,
        idempotency_key: str | None = None,
        point_of_no_return: Callable[[], None] | None = None,
    ) -> str:
        # One HTTP request: no point of no return to report before its answer; the caller
        # records the send once SendGrid accepted it.
        from python_http_client import exceptions as http_errors
        from sendgrid import SendGridAPIClient

        c = self.config
        message_id = _ensure_message_id(message)
        mail = _to_sendgrid_mail(message, message_id, idempotency_key)
        client = SendGridAPIClient(api_key=c.api_key, host=c.host)
        client.client.timeout = c.timeout
        try:
            response = client.send(mail)
        except http_errors.HTTPError as exc:
            raise self._http_error(exc) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TransientJobError(
                f"cannot reach SendGrid at {c.host}: {reason}", code="SENDGRID_UNAVAILABLE"
            ) from exc
        status = response.status_code
        if not 200 <= status < 300:
            raise TransientJobError(
                f"SendGrid at {c.host} answered HTTP {status}", code="SENDGRID_UNAVAILABLE"
            )
        provider_id = response.headers.get("X-Message-Id") if response.headers else None
        return provider_id or message_id

    def _http_error(self, exc) -> Exception:
        status = int(exc.status_code)
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
        body = " ".join(str(body or "").split())[:500]
        detail = f"SendGrid answered HTTP {status}" + (f": {body}" if body else "")
        if status == 429:
            retry_after = None
            if exc.headers is not None:
                value = exc.headers.get("Retry-After")
                if value and value.strip().isdigit():
                    retry_after = int(value.strip())
            return TransientJobError(
                detail, code="SENDGRID_RATE_LIMITED", http_status=status, retry_after=retry_after
            )
        if status >= 500 or status == 408:
            return TransientJobError(detail, code="SENDGRID_UNAVAILABLE", http_status=status)
        return PermanentJobError(detail, code="SENDGRID_REJECTED", http_status=status)
