"""Every link to a stored object, signed here: HMAC links served by the API, or presigned S3.

- `file_url(key, …)` is what services hand to clients for one file (covers, avatars,
  exports, certificates, resources): a presigned URL from the store on S3, an API link on
  local storage.
- `api_url(key, …)` is a link served by the API (`GET /storage/s/{expires}/{signature}/{key}`,
  `web/storage_http.py`) on either backend; on S3 it answers playlists itself and redirects
  the rest to presigned URLs.
- A link may be signed for a folder (`videos/{asset}/{version}/`) rather than one file, so an
  HLS master, its playlists, every segment they name (relative URLs) and the images pass
  with one signature: a request for `a/b/c.m4s` passes if `a/b/c.m4s`, `a/b/` or `a/` was
  signed.
- A link may carry a file name (`?name=`), which the signature covers; it is then served
  with `Content-Disposition: inline` and a file name, or `attachment` with `?download=1`.

Each purpose (GET, PUT) derives its own key from the secret key, so a signature made for
one use cannot be replayed for another.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
import unicodedata
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from lms.config import Settings, get_settings
from lms.errors import Forbidden
from lms.storage import get_storage

GET_PURPOSE = "storage-get"
PUT_PURPOSE = "storage-put"
GET_ROUTE = "/storage/s"
UPLOAD_ROUTE = "/storage/u"
# Expiries are rounded up to this step: links to the same file made within the step are
# identical, so browsers and CDNs can cache the file under one URL.
EXPIRY_STEP = 600


class SignatureInvalid(Forbidden):
    code = "SIGNATURE_INVALID"


class LinkExpired(Forbidden):
    code = "LINK_EXPIRED"


def _key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(
        settings.secret_key.encode(), f"lms.signing.{purpose}".encode(), hashlib.sha256
    ).digest()


def sign(scope: str, expires: int, *, purpose: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    message = f"{scope}\n{int(expires)}".encode()
    return hmac.new(_key(settings, purpose), message, hashlib.sha256).hexdigest()


def verify(
    scope: str,
    expires: int | str | None,
    signature: str | None,
    *,
    purpose: str,
    settings: Settings | None = None,
    now: float | None = None,
) -> None:
    """Raise `SignatureInvalid` or `LinkExpired` (403s) unless the link is genuine and current."""
    if expires is None or not signature or not str(expires).isdigit():
        raise SignatureInvalid("this link is not signed")
    expected = sign(scope, int(expires), purpose=purpose, settings=settings)
    if not hmac.compare_digest(expected, signature):
        raise SignatureInvalid("this link's signature does not match")
    if int(expires) < (time.time() if now is None else now):
        raise LinkExpired("this link has expired")


def covering_paths(path: str) -> list[str]:
    """`a/b/c.ts` → [`a/b/c.ts`, `a/b/`, `a/`]: the path and every folder above it."""
    parts = path.split("/")
    return [path] + ["/".join(parts[:i]) + "/" for i in range(len(parts) - 1, 0, -1)]


def named_scope(key: str, name: str) -> str:
    """What a link with a file name signs: the name is part of what the signer decided."""
    return f"{key}\nname={name}"


def verify_get(
    key: str, expires: int, signature: str, *, name: str | None, settings: Settings
) -> None:
    """Check a GET link: a named link for exactly its key and name, else a covering scope."""
    if name is not None:
        verify(named_scope(key, name), expires, signature, purpose=GET_PURPOSE, settings=settings)
        return
    for candidate in covering_paths(key):
        try:
            verify(candidate, expires, signature, purpose=GET_PURPOSE, settings=settings)
            return
        except SignatureInvalid:
            continue
    raise SignatureInvalid("this link's signature does not match")


def expiry(seconds: int, *, now: float | None = None) -> datetime:
    """At least `seconds` from now, rounded up to `EXPIRY_STEP` (stable URLs for caches)."""
    at = (time.time() if now is None else now) + seconds
    return datetime.fromtimestamp(math.ceil(at / EXPIRY_STEP) * EXPIRY_STEP, UTC)


def api_path(
    key: str,
    expires_at: datetime,
    *,
    scope: str | None = None,
    name: str | None = None,
    download: bool = False,
    settings: Settings | None = None,
) -> str:
    """The API path (with query) of `key`, signed for `scope` (a folder above it) or the key."""
    expires = int(expires_at.timestamp())
    signed = named_scope(key, name) if name is not None else scope or key
    signature = sign(signed, expires, purpose=GET_PURPOSE, settings=settings)
    query = {"name": name} if name is not None else {}
    if download:
        query["download"] = "1"
    suffix = f"?{urlencode(query, quote_via=quote)}" if query else ""
    return f"{GET_ROUTE}/{expires}/{signature}/{quote(key)}{suffix}"


def api_url(key: str, expires_at: datetime, *, settings: Settings | None = None, **kwargs) -> str:
    """`api_path` on the configured public URL."""
    settings = settings or get_settings()
    path = api_path(key, expires_at, settings=settings, **kwargs)
    return settings.public_url.rstrip("/") + path


def file_url(
    key: str,
    seconds: int,
    *,
    name: str | None = None,
    download: bool = False,
    settings: Settings | None = None,
) -> tuple[str, datetime]:
    """A link to one stored file and when it expires: presigned on S3, else served by the API.

    With `name`, the file is served under that name, inline or (`download`) as an attachment.
    """
    settings = settings or get_settings()
    expires_at = expiry(seconds)
    disposition = content_disposition(name, download=download) if name else None
    direct = get_storage(settings).presigned_get(
        key, expires_at=expires_at, content_disposition=disposition
    )
    if direct:
        return direct, expires_at
    return api_url(key, expires_at, name=name, download=download, settings=settings), expires_at


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def ascii_file_name(name: str) -> str:
    """`École-Supérieure.pdf` → `Ecole-Superieure.pdf`: the fallback every client understands."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _UNSAFE.sub("-", folded).strip("-.") or "download"


def content_disposition(name: str, *, download: bool) -> str:
    """RFC 6266: an ASCII `filename` for old clients and the exact name as UTF-8 `filename*`."""
    kind = "attachment" if download else "inline"
    return f"{kind}; filename=\"{ascii_file_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"


def upload_scope(key: str, content_type: str, max_bytes: int) -> str:
    """What an upload signature covers: the key, the one content type and the size cap."""
    return f"{key}\n{content_type}\n{max_bytes}"


def multipart_scope(
    key: str, upload_id: str, content_type: str, total_bytes: int, part_bytes: int
) -> str:
    """What a resumable local upload's signature covers: one upload of one key, its content
    type, its exact size and its part size (each chunk's `Content-Range` must fall on a part)."""
    return f"{key}\nmultipart={upload_id}\n{content_type}\n{total_bytes}\n{part_bytes}"
