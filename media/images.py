"""Poster frames, thumbnails and cover images.

Video frames come out of ffmpeg; resizing and encoding is Pillow's. Uploaded images are
judged by their content (Pillow's format detection), never by file name, and opened under
a pixel limit so a tiny file that decodes to gigapixels cannot exhaust a worker's memory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from .errors import INVALID_MEDIA, TRANSCODE_FAILED, MediaError
from .probe import ProbeResult, probe
from .runner import FFMPEG, FFMPEG_BASE_ARGS, run_tool

# Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that. 50 MP is more than any
# cover image needs (8K is 33 MP); the explicit check in ``open_image`` refuses anything
# above the limit itself rather than merely warning.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

ALLOWED_IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
THUMBNAIL_SIZES = (1280, 640, 320)
BLACK_LUMA = 20.0  # mean luma (0-255) below this reads as a black frame
FRAME_TIMEOUT = 60.0
JPEG_QUALITY = 85
WEBP_QUALITY = 80


def is_black(image_path: str | os.PathLike[str], *, threshold: float = BLACK_LUMA) -> bool:
    """True when the image's mean luminance is below ``threshold`` (0-255)."""
    with Image.open(image_path) as img:
        return mean_luma(img) < threshold


def mean_luma(img: Image.Image) -> float:
    return float(ImageStat.Stat(img.convert("L")).mean[0])


def poster_frame(
    src: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    skip_seconds: float = 3.0,
    source: ProbeResult | None = None,
    max_width: int = 1920,
) -> Path:
    """Write a representative, non-black frame of ``src`` to ``out_path`` (JPEG/PNG/WebP).

    Intros are often black or a title card, so the first ``skip_seconds`` are skipped
    (clamped to a quarter of a short video) and ffmpeg's ``thumbnail`` filter picks the most
    typical frame of the next batch. If that frame is still black (fade, dark intro), later
    points are tried; for a video that is black throughout the brightest candidate is kept.
    """
    source = source or probe(src)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    duration = max(source.duration, 0.0)
    first = min(max(skip_seconds, 0.0), duration * 0.25)
    starts = [first] + [duration * f for f in (0.5, 0.75, 0.1) if duration * f != first]

    candidates: list[tuple[float, Path]] = []
    try:
        for attempt, start in enumerate(starts):
            path = out.with_name(f".{out.stem}.try{attempt}{out.suffix}")
            try:
                _grab_frame(Path(src), path, start=start, max_width=max_width, fps=source.fps)
            except MediaError:
                path.unlink(missing_ok=True)
                if attempt == 0:
                    raise
                continue  # a later fallback point failing must not lose a usable frame
            with Image.open(path) as img:
                luma = mean_luma(img)
            candidates.append((luma, path))
            if luma >= BLACK_LUMA:
                break
        max(candidates)[1].replace(out)
    finally:
        for _, path in candidates:
            path.unlink(missing_ok=True)
    return out


def _grab_frame(src: Path, out: Path, *, start: float, max_width: int, fps: float) -> None:
    # The input seek (-ss before -i) jumps to the keyframe before `start`; from there every
    # frame is decoded at full resolution, so the window thumbnail=n looks at is kept short:
    # about a second's worth is one shot of a lecture and costs half of two seconds'.
    batch = max(10, min(60, round(fps or 25)))
    run_tool(
        [
            FFMPEG,
            *FFMPEG_BASE_ARGS,
            "-y",
            "-ss",
            f"{start:.3f}",
            "-i",
            str(src),
            "-map",
            "0:v:0",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            f"thumbnail=n={batch},scale='min({max_width},iw)':-2",
            "-frames:v",
            "1",
            "-q:v",
            "2",
            "-update",
            "1",
            str(out),
        ],
        timeout=FRAME_TIMEOUT,
        error_code=TRANSCODE_FAILED,
        what=f"extracting a frame of {src.name}",
    )
    if not out.is_file() or out.stat().st_size == 0:
        raise MediaError(TRANSCODE_FAILED, f"{src.name}: no frame could be extracted")


def thumbnails(
    poster_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    sizes: Iterable[int] = THUMBNAIL_SIZES,
    *,
    stem: str = "thumb",
) -> list[Path]:
    """Resize a poster to each width in ``sizes``, as WebP and JPEG; never upscales."""
    img = open_image(poster_path)
    return _write_sizes(img, Path(out_dir), sizes, stem)


def resize_image(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    sizes: Iterable[int] = THUMBNAIL_SIZES,
    *,
    stem: str = "cover",
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> list[Path]:
    """Resize an uploaded cover image to each width in ``sizes`` (WebP and JPEG).

    Anything that is not a decodable JPEG, PNG, WebP or GIF within ``max_pixels`` raises
    ``MediaError(INVALID_MEDIA)``.
    """
    img = open_image(src, max_pixels=max_pixels)
    return _write_sizes(img, Path(out_dir), sizes, stem)


def open_image(src: str | os.PathLike[str], *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open, verify and fully decode an image; upright (EXIF orientation applied)."""
    name = Path(src).name
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; make it refuse.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src) as probe_img:  # reads the header only
                fmt = probe_img.format
                width, height = probe_img.size
                if fmt not in ALLOWED_IMAGE_FORMATS:
                    raise MediaError(INVALID_MEDIA, f"{name}: unsupported image type {fmt}")
                if width * height > max_pixels:
                    raise MediaError(
                        INVALID_MEDIA, f"{name} is {width}x{height}, over {max_pixels} pixels"
                    )
                probe_img.verify()  # structure and checksums, without decoding pixels
            # verify() leaves the image unusable: reopen to decode for real.
            with Image.open(src) as img:
                img.load()
                upright = ImageOps.exif_transpose(img)
                return upright if upright is not img else img.copy()
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(INVALID_MEDIA, f"{name} has too many pixels") from exc
    except FileNotFoundError as exc:
        raise MediaError(INVALID_MEDIA, f"{name}: no such file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Truncated data, bad checksums, garbage: Pillow reports these as several types.
        raise MediaError(INVALID_MEDIA, f"{name} is not a valid image") from exc


def _write_sizes(img: Image.Image, out_dir: Path, sizes: Iterable[int], stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Never upscale: widths above the source collapse into one rendition at source width.
    widths = sorted({min(int(w), img.width) for w in sizes if int(w) > 0}, reverse=True)
    has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
    base = img.convert("RGBA" if has_alpha else "RGB")
    paths: list[Path] = []
    for width in widths:
        height = max(1, round(img.height * width / img.width))
        resized = base if width == base.width else base.resize((width, height), Image.LANCZOS)
        webp = out_dir / f"{stem}-{width}.webp"
        resized.save(webp, "WEBP", quality=WEBP_QUALITY, method=4)
        jpeg = out_dir / f"{stem}-{width}.jpg"
        # JPEG has no alpha: flatten onto white rather than letting transparent areas go black.
        flat = resized if resized.mode == "RGB" else _flatten(resized)
        flat.save(jpeg, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        paths += [webp, jpeg]
    return paths


def _flatten(img: Image.Image) -> Image.Image:
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background
