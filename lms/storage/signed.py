"""Signed storage URLs on top of `lms.signing`, with folder-prefix scopes.

A streaming URL is signed for a folder (`videos/{asset}/{version}/`) rather than one file,
so the HLS master, its media playlists, every segment they name (relative URLs in the same
folder) and the poster and storyboard all pass with the one signature. A request for
`a/b/c.m4s` is accepted if the signature covers `a/b/c.m4s`, `a/b/` or `a/`.
"""

from __future__ import annotations

from lms import signing
from lms.config import Settings

GET_PURPOSE = "storage-get"
PUT_PURPOSE = "storage-put"


def covering_paths(path: str) -> list[str]:
    """`a/b/c.ts` → [`a/b/c.ts`, `a/b/`, `a/`]: the path and every folder above it."""
    parts = path.split("/")
    return [path] + ["/".join(parts[:i]) + "/" for i in range(len(parts) - 1, 0, -1)]


def sign_scope(scope: str, expires: int, *, purpose: str, settings: Settings) -> str:
    return signing.sign(scope, int(expires), purpose=purpose, settings=settings)


def verify_scoped(
    path: str, expires: int, signature: str, *, purpose: str, settings: Settings
) -> None:
    """Raise `SignatureInvalid` / `LinkExpired` (403s) unless a scope covering `path` signed it."""
    for candidate in covering_paths(path):
        try:
            signing.verify(candidate, str(expires), signature, purpose=purpose, settings=settings)
            return
        except signing.LinkExpired:
            raise
        except signing.SignatureInvalid:
            continue
    raise signing.SignatureInvalid("this link's signature does not match")
