"""Pillow: thumbnails and PNG conversion, upright by EXIF, guarded against decompression bombs."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from sesamedisk.errors import InvalidRequest, TooLarge


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse images with more than `max_pixels` pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise TooLarge("the image has too many pixels to preview") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest("the file is not a readable image") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise TooLarge(f"the image has more than {max_pixels} pixels")
    return image


def _upright(image: Image.Image) -> Image.Image:
    """The first frame, rotated by its EXIF orientation, in a mode PNG can hold."""
    try:
        image.seek(0)
        upright = ImageOps.exif_transpose(image) or image
        if upright.mode not in ("RGB", "RGBA", "L", "LA"):
            has_alpha = "A" in upright.mode or "transparency" in upright.info
            upright = upright.convert("RGBA" if has_alpha else "RGB")
        upright.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidRequest("the image is damaged and cannot be previewed") from exc
    return upright


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def thumbnail(data: bytes, size: int, max_pixels: int) -> bytes:
    """A PNG no larger than size x size (never enlarged), keeping the aspect ratio."""
    with _open(data, max_pixels) as image:
        if image.format == "JPEG":
            image.draft("RGB", (size, size))  # decode at a reduced scale: far less work
        upright = _upright(image)
        upright.thumbnail((size, size), Image.Resampling.LANCZOS)
        return _png(upright)


def browser_png(data: bytes, max_pixels: int) -> bytes:
    """The whole image as PNG, upright."""
    with _open(data, max_pixels) as image:
        return _png(_upright(image))
