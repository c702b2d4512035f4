"""Safe, bounded image decoding.

``load_image`` turns whatever a shop uploads (path, bytes, file object or an
already opened PIL image) into a small RGB ``PIL.Image.Image``:

* size limits are checked *before* decoding: file size (``max_bytes``) and the
  pixel count declared in the header (``max_pixels``), so decompression bombs
  are rejected without allocating memory for them;
* only common photo formats are opened (JPEG incl. MPO, PNG, GIF, WebP, BMP, TIFF),
  never formats whose plugins call external programs (EPS) or are rarely
  seen in shops;
* truncated or corrupt files are rejected (``ImageFile.LOAD_TRUNCATED_IMAGES``
  is never touched, so Pillow raises instead of padding with grey);
* large JPEGs are decoded with ``Image.draft`` (DCT scaling, 1/2 ... 1/8), so a
  12,000 px photo decodes in bounded time and memory;
* the result has EXIF orientation applied, the first frame of animations,
  16-bit greyscale scaled to 8 bits, CMYK/YCbCr/LAB/... converted to RGB and
  transparency composited on white, and its long side is at most ``max_side``.

Every failure is an :class:`ImageDecodeError` with a message fit for people.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import threading
import warnings
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .types import ImageDecodeError

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "ImageDecodeError",
    "ImageSource",
    "content_hash",
    "load_image",
    "read_source_bytes",
]

DEFAULT_MAX_PIXELS = 60_000_000
DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_SIDE = 1600

#: Formats ``load_image`` will open. Others are reported as "not an image".
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO, Image.Image]

# warnings.catch_warnings() swaps process-wide state; serialise our own use of it.
_WARNINGS_LOCK = threading.Lock()

_EXIF_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def content_hash(data: bytes) -> str:
    """SHA-256 of the raw bytes, as 64 lowercase hex digits."""
    return hashlib.sha256(bytes(data) if not isinstance(data, bytes) else data).hexdigest()


def _too_big_bytes(n: int, max_bytes: int) -> ImageDecodeError:
    return ImageDecodeError(f"file too large: {n} bytes exceeds limit {max_bytes}")


def read_source_bytes(source: ImageSource, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a path, bytes-like or binary file object into bytes, enforcing ``max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise _too_big_bytes(len(data), max_bytes)
        return data
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            size = os.stat(path).st_size
            if size > max_bytes:
                raise _too_big_bytes(size, max_bytes)
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
        except FileNotFoundError:
            raise ImageDecodeError(f"file not found: {path}") from None
        except IsADirectoryError:
            raise ImageDecodeError(f"not a file: {path} is a directory") from None
        except PermissionError:
            raise ImageDecodeError(f"cannot read file: permission denied: {path}") from None
        except OSError as exc:
            raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}: {path}") from None
        if len(data) > max_bytes:  # file grew since stat
            raise _too_big_bytes(len(data), max_bytes)
        return data
    read = getattr(source, "read", None)
    if read is None:
        raise ImageDecodeError(
            f"unsupported image source: {type(source).__name__} "
            "(expected a path, bytes, a binary file object or a PIL image)"
        )
    try:
        data = read(max_bytes + 1)
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc}") from None
    if isinstance(data, str):
        raise ImageDecodeError("file object is open in text mode; open it in binary mode ('rb')")
    data = bytes(data or b"")
    if len(data) > max_bytes:
        raise _too_big_bytes(len(data), max_bytes)
    return data


def _describe_decode_failure(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "truncated" in lowered or "premature end" in lowered or "end of file" in lowered:
        return "image is truncated"
    if isinstance(exc, MemoryError):
        return "image is too large to decode in memory"
    return f"image data is corrupt: {text}"


def _pixel_limit_error(pixels: int, max_pixels: int) -> ImageDecodeError:
    return ImageDecodeError(f"image too large: {pixels} pixels exceeds limit {max_pixels}")


def _bomb_error(exc: BaseException, max_pixels: int) -> ImageDecodeError:
    """Pillow's own decompression-bomb check fired; word it like ours."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    if not match:
        return ImageDecodeError(f"image too large: {exc}")
    pixels = int(match.group(1))
    limit = max_pixels
    if pixels <= max_pixels:  # our limit is above Pillow's (Image.MAX_IMAGE_PIXELS); report Pillow's
        pillow_limit = Image.MAX_IMAGE_PIXELS or pixels
        limit = 2 * pillow_limit if isinstance(exc, Image.DecompressionBombError) else pillow_limit
    return _pixel_limit_error(pixels, limit)


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    if not data:
        raise ImageDecodeError("empty file")
    with _WARNINGS_LOCK, warnings.catch_warnings():
        # Pillow's own bomb check warns above Image.MAX_IMAGE_PIXELS; make it an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb_error(exc, max_pixels) from None
        except UnidentifiedImageError:
            raise ImageDecodeError(
                "not an image: cannot identify image file "
                f"(supported formats: {', '.join(ALLOWED_FORMATS)})"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as exc:
            # Header parsers raise a zoo of exceptions on garbage.
            raise ImageDecodeError(f"not an image: {_describe_decode_failure(exc)}") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image has invalid size {width}x{height}")
    pixels = width * height
    if pixels > max_pixels:
        raise _pixel_limit_error(pixels, max_pixels)
    return img


def _exif_orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        value = int(value)
    except Exception:  # corrupt EXIF must not make a good photo fail
        return 1
    return value if value in _TRANSPOSE_FOR_ORIENTATION else 1


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    for method in _TRANSPOSE_FOR_ORIENTATION.get(orientation, ()):
        img = img.transpose(method)
    return img


def _load(img: Image.Image, max_pixels: int) -> None:
    # No warnings lock here: decoding is the slow part and must run in parallel in
    # threaded workers. Pillow's bomb check runs in open() (done above, under the lock).
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, max_pixels) from None
    except ImageDecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError, struct.error) as exc:
        raise ImageDecodeError(_describe_decode_failure(exc)) from None


def _to_uint8_grey(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale to 8 bits ("L")."""
    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        arr = arr.astype(np.float64) / 257.0  # 0..65535 -> 0..255
    elif img.mode == "I":
        arr = arr.astype(np.float64)
        top = float(arr.max()) if arr.size else 0.0
        if top <= 255 and float(arr.min()) >= 0:
            pass  # 8-bit data stored as 32-bit ints
        elif top <= 65535 and float(arr.min()) >= 0:
            arr = arr / 257.0  # the usual case: 16-bit data (PNG/TIFF) held in mode "I"
        else:
            lo = float(arr.min())
            arr = (arr - lo) * (255.0 / max(top - lo, 1.0))
    else:  # "F"
        arr = arr.astype(np.float64)
        finite = arr[np.isfinite(arr)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        if lo >= 0.0 and hi <= 1.0:
            arr = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            pass
        else:
            arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _to_uint8_grey(img).convert("RGB")
    has_transparency = "transparency" in img.info
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (has_transparency and mode in ("P", "L", "RGB", "1")):
        if mode == "RGBa":
            img = img.convert("RGBA")  # un-premultiply
        elif mode == "La":
            img = img.convert("LA")
        return _composite_on_white(img)
    if mode == "RGB":
        return img
    # "1", "L", "P", "CMYK", "YCbCr", "LAB", "HSV", ...
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise ImageDecodeError(f"unsupported colour mode {mode!r}: {exc}") from None


def _downscale(img: Image.Image, max_side: int) -> Image.Image:
    """A new image whose long side is max_side (aspect kept), or ``img`` if already small enough."""
    width, height = img.size
    long_side = max(width, height)
    if long_side <= max_side:
        return img
    scale = max_side / long_side
    size = (
        max_side if width >= height else max(1, round(width * scale)),
        max_side if height > width else max(1, round(height * scale)),
    )
    # reducing_gap: box-reduce by an integer factor first, then a high-quality resample.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _jpeg_draft(img: Image.Image, max_side: int) -> None:
    if img.format not in ("JPEG", "MPO"):
        return
    width, height = img.size
    long_side = max(width, height)
    if long_side <= max_side:
        return
    scale = max_side / long_side
    # draft() picks the largest DCT scale that keeps the image >= this size.
    target = (max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale))))
    try:
        img.draft(None, target)
    except Exception:  # draft is an optimisation only
        pass


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_side: int = DEFAULT_MAX_SIDE,
) -> Image.Image:
    """Decode ``source`` into an RGB image whose long side is at most ``max_side``.

    ``source`` may be a path, ``bytes``, a binary file object (read up to
    ``max_bytes + 1`` bytes from its current position) or a ``PIL.Image.Image``
    (already in memory: only the pixel limit, orientation, mode and size are
    handled). Raises :class:`ImageDecodeError` for anything that cannot be
    decoded safely, including missing files.
    """
    if max_side < 1:
        raise ValueError("max_side must be >= 1")
    if isinstance(source, Image.Image):
        img = source
        pixels = img.size[0] * img.size[1]
        if pixels > max_pixels:
            raise _pixel_limit_error(pixels, max_pixels)
        if pixels == 0:
            raise ImageDecodeError(f"image has invalid size {img.size[0]}x{img.size[1]}")
        if hasattr(img, "tell") and img.tell() != 0:
            try:
                img.seek(0)  # first frame of an animation
            except EOFError:
                pass
        _load(img, max_pixels)
        orientation = _exif_orientation(img)
    else:
        data = read_source_bytes(source, max_bytes=max_bytes)
        img = _open(data, max_pixels)
        _jpeg_draft(img, max_side)
        _load(img, max_pixels)  # decodes the first frame only (animated GIF/WebP/TIFF pages)
        # Only after load(): some plugins (PNG) load pixels lazily inside getexif(), and
        # _exif_orientation() swallows errors, which would hide a corrupt file.
        orientation = _exif_orientation(img)

    rgb = _to_rgb(img)
    rgb = _downscale(rgb, max_side)
    rgb = _apply_orientation(rgb, orientation)
    if rgb is img:
        rgb = rgb.copy()  # never hand back the caller's object
    rgb.info.pop("exif", None)
    return rgb
