"""Avatar upload through updateProfile: content-checked, resized by a worker job."""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import select

from lms.db import session_scope
from lms.jobs.models import Job
from tests.users.conftest import register

UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { id avatar { status images { width format key } } }
}"""
AVATAR = "{ me { avatar { status images { width format key url } } } }"
VERIFY = "mutation($token: String!) { verifyEmail(input: {token: $token}) { emailVerified } }"


@pytest.fixture(scope="module")
def worker_queues() -> str:
    return "email,default"  # verification emails, and the avatar resize job


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def image_bytes(size: tuple[int, int], fmt: str = "PNG", color=(200, 30, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def verified_account(api, mailbox) -> dict:
    account = register(api)
    token = mailbox.token(account["user"]["id"], "verify_email")
    assert api.data(VERIFY, {"token": token})["verifyEmail"]["emailVerified"]
    return account


def test_unverified_users_cannot_set_an_avatar(api):
    account = register(api)
    url = data_url(image_bytes((64, 64)))
    assert api.error_codes(UPDATE, {"input": {"avatarDataUrl": url}}, account["accessToken"]) == [
        "EMAIL_NOT_VERIFIED"
    ]


def test_avatar_is_resized_to_fixed_squares_by_a_job(api, mailbox, watcher):
    account = verified_account(api, mailbox)
    user_id = account["user"]["id"]
    # A wide JPEG sent as "image/png": the declared type does not matter, the content does.
    url = data_url(image_bytes((640, 360), "JPEG"), "image/png")
    started = api.data(UPDATE, {"input": {"avatarDataUrl": url}}, account["accessToken"])[
        "updateProfile"
    ]
    assert started["avatar"] == {"status": "PROCESSING", "images": []}

    with session_scope() as session:
        job = session.scalar(
            select(Job).where(Job.kind == "users.avatar_resize", Job.subject_id == user_id)
        )
    assert watcher.wait(job.id)["status"] == "SUCCEEDED"
    avatar = api.data(AVATAR, token=account["accessToken"])["me"]["avatar"]
    assert avatar["status"] == "READY"
    assert sorted((i["width"], i["format"]) for i in avatar["images"]) == [
        (64, "JPG"),
        (64, "WEBP"),
        (128, "JPG"),
        (128, "WEBP"),
        (256, "JPG"),
        (256, "WEBP"),
    ]
    for image in avatar["images"]:
        assert image["key"].startswith(f"avatars/{user_id}/")
        # What a browser does with the link: the API serves the stored file (this API's
        # LMS_PUBLIC_URL is not its test port, so the link's path goes to the test port).
        link = urlsplit(image["url"])
        response = api.http.get(f"{link.path}?{link.query}")
        assert response.status_code == 200
        assert response.headers["content-type"] == f"image/{image['format'].lower()}".replace(
            "jpg", "jpeg"
        )
        with Image.open(io.BytesIO(response.content)) as img:
            assert img.size == (image["width"], image["width"])

    removed = api.data(UPDATE, {"input": {"removeAvatar": True}}, account["accessToken"])[
        "updateProfile"
    ]
    assert removed["avatar"] is None


def test_oversized_and_non_image_avatars_are_refused(api, mailbox):
    account = verified_account(api, mailbox)
    token = account["accessToken"]
    limit = 512 * 1024
    noise = bytes(range(256)) * (limit // 256 + 100)
    cases = {
        "oversized": (data_url(noise), "AVATAR_TOO_LARGE"),
        # Small file, huge picture: 6000x6000 pixels compress to a few kB (a decompression bomb).
        "too many pixels": (
            data_url(image_bytes((6000, 6000), color=(0, 0, 0))),
            "AVATAR_TOO_LARGE",
        ),
        "text named png": (data_url(b"definitely not a picture\n" * 20), "AVATAR_NOT_AN_IMAGE"),
        "truncated png": (data_url(image_bytes((64, 64))[:60]), "AVATAR_NOT_AN_IMAGE"),
        "bitmap": (data_url(image_bytes((16, 16), "BMP"), "image/bmp"), "AVATAR_NOT_AN_IMAGE"),
        "bad base64": ("data:image/png;base64,@@@not base64@@@", "AVATAR_NOT_AN_IMAGE"),
        "not a data url": ("https://example.test/me.png", "AVATAR_NOT_AN_IMAGE"),
    }
    for name, (url, code) in cases.items():
        assert api.error_codes(UPDATE, {"input": {"avatarDataUrl": url}}, token) == [code], name
    assert api.data(AVATAR, token=token)["me"]["avatar"] is None
