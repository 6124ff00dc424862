from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from media import MediaError, is_black, poster_frame, resize_image, thumbnails


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes claiming a huge image: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def poster(clip_360: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return poster_frame(clip_360, tmp_path_factory.mktemp("poster") / "poster.jpg", skip_seconds=1)


def test_poster_is_a_full_size_frame_that_is_not_black(poster: Path) -> None:
    with Image.open(poster) as img:
        assert img.format == "JPEG" and img.size == (640, 360)
    assert not is_black(poster)


def test_poster_skips_a_black_intro(clip_black_start: Path, tmp_path: Path) -> None:
    out = poster_frame(clip_black_start, tmp_path / "poster.jpg", skip_seconds=0)
    assert not is_black(out)
    assert [p.name for p in tmp_path.iterdir()] == ["poster.jpg"]  # no leftovers


def test_poster_skip_is_clamped_for_short_videos(clip_360: Path, tmp_path: Path) -> None:
    out = poster_frame(clip_360, tmp_path / "poster.webp", skip_seconds=600)
    with Image.open(out) as img:
        assert img.format == "WEBP"
    assert not is_black(out)


def test_is_black_on_a_black_image(tmp_path: Path) -> None:
    path = tmp_path / "black.png"
    Image.new("RGB", (64, 36), (3, 3, 3)).save(path)
    assert is_black(path)


def test_thumbnails_in_webp_and_jpeg_never_upscaled(poster: Path, tmp_path: Path) -> None:
    paths = thumbnails(poster, tmp_path)
    found = {}
    for path in paths:
        with Image.open(path) as img:  # by content, not by name
            found[(img.format, img.width)] = img.height
    assert found == {("WEBP", 640): 360, ("JPEG", 640): 360, ("WEBP", 320): 180, ("JPEG", 320): 180}


def test_cover_image_is_judged_by_content_not_name(tmp_path: Path) -> None:
    src = tmp_path / "cover.jpg"  # really a PNG with transparency
    Image.new("RGBA", (800, 400), (200, 30, 30, 128)).save(src, "PNG")
    paths = resize_image(src, tmp_path / "out", (400, 200))
    assert sorted(p.name for p in paths) == [
        "cover-200.jpg",
        "cover-200.webp",
        "cover-400.jpg",
        "cover-400.webp",
    ]
    with Image.open(tmp_path / "out" / "cover-200.jpg") as img:
        assert img.format == "JPEG" and img.size == (200, 100)


@pytest.mark.parametrize("kind", ["random", "truncated", "bomb", "video", "missing"])
def test_bad_cover_images_are_invalid_media(
    kind: str, tmp_path: Path, clip_small_silent: Path
) -> None:
    src = tmp_path / "cover.png"
    if kind == "random":
        src.write_bytes(b"\x89PNG not really" * 100)
    elif kind == "truncated":
        full = tmp_path / "full.jpg"
        Image.effect_noise((400, 400), 64).convert("RGB").save(full, "JPEG")
        src.write_bytes(full.read_bytes()[:2000])
    elif kind == "bomb":
        _png_header_only(src, 40_000, 40_000)
    elif kind == "video":
        src.write_bytes(clip_small_silent.read_bytes())
    with pytest.raises(MediaError) as info:
        resize_image(src, tmp_path / "out", (320,))
    assert info.value.code == "INVALID_MEDIA"
    assert not (tmp_path / "out").exists()  # nothing written for a rejected upload


def test_cover_over_a_custom_pixel_limit_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(src)
    with pytest.raises(MediaError) as info:
        resize_image(src, tmp_path / "out", (100,), max_pixels=200 * 200)
    assert info.value.code == "INVALID_MEDIA"
