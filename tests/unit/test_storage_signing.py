"""The one signing module: scopes, file names and RFC 6266 headers, without a server."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from lms.config import load_settings
from lms.storage import signing


@pytest.fixture
def settings(tmp_path):
    return load_settings(var_dir=tmp_path, secret_key="s" * 40, storage_url="")


def parts(path: str) -> tuple[int, str, str, str]:
    """`/storage/s/{expires}/{signature}/{key}?query` → its pieces."""
    route, query = (path.split("?", 1) + [""])[:2]
    expires, signature, key = route.removeprefix(signing.GET_ROUTE + "/").split("/", 2)
    return int(expires), signature, key, query


def test_a_folder_signature_covers_every_file_below_it_and_nothing_else(settings):
    later = datetime.fromtimestamp(time.time() + 600, UTC)
    path = signing.api_path(
        "videos/a/1/stream/master.m3u8", later, scope="videos/a/1/", settings=settings
    )
    expires, signature, _, _ = parts(path)
    for key in ("videos/a/1/stream/master.m3u8", "videos/a/1/stream/v0/seg-1.m4s"):
        signing.verify_get(key, expires, signature, name=None, settings=settings)
    with pytest.raises(signing.SignatureInvalid):
        signing.verify_get(
            "videos/b/1/stream/master.m3u8", expires, signature, name=None, settings=settings
        )


def test_a_named_link_is_valid_only_under_its_name_and_until_it_expires(settings):
    later = datetime.fromtimestamp(time.time() + 600, UTC)
    path = signing.api_path("certificates/X/v1.pdf", later, name="a.pdf", settings=settings)
    expires, signature, key, query = parts(path)
    assert query == "name=a.pdf"
    signing.verify_get(key, expires, signature, name="a.pdf", settings=settings)
    for name in ("other.pdf", None):  # a renamed copy, or the bare key
        with pytest.raises(signing.SignatureInvalid):
            signing.verify_get(key, expires, signature, name=name, settings=settings)
    past = datetime.fromtimestamp(time.time() - 60, UTC)
    expires, signature, key, _ = parts(signing.api_path(key, past, name="a.pdf", settings=settings))
    with pytest.raises(signing.LinkExpired):
        signing.verify_get(key, expires, signature, name="a.pdf", settings=settings)


def test_file_names_have_an_ascii_fallback_and_the_exact_utf8_name():
    assert signing.content_disposition("École-Supérieure-c-1-LYC-AB.pdf", download=False) == (
        'inline; filename="Ecole-Superieure-c-1-LYC-AB.pdf"; '
        "filename*=UTF-8''%C3%89cole-Sup%C3%A9rieure-c-1-LYC-AB.pdf"
    )
    assert signing.content_disposition('a "quoted"; name.csv', download=True).startswith(
        'attachment; filename="a-quoted-name.csv"; '
    )


def test_links_made_close_together_are_identical(settings):
    """Expiries are rounded, so a page rendered twice points browsers at one cached URL."""
    now = 1_800_000_100
    first = signing.expiry(3600, now=now)
    assert first == signing.expiry(3600, now=now + 1)
    assert first.timestamp() >= now + 3600
