"""Safe, bounded image decoding.

``load_image`` turns whatever a shop uploads (path, bytes, file object or an
already opened PIL image) into a small RGB ``PIL.Image.Image``:

* size limits are checked *before* decoding: file size (``max_bytes``), the
  pixel count declared in the header (``max_pixels``) and the shape
  (``max_aspect``, ``MIN_SIDE``), so decompression bombs and slivers such as a
  20,000 x 3 strip are rejected without allocating memory for them. Every later
  stage sizes its buffers from the decoded image, so bounding area *and* aspect
  here bounds them all (a 1600 x 1 strip would make an OCR engine that scales
  the short side to 736 px allocate gigabytes);
* 16-bit, 32-bit and float images are reduced to 8 bits strip by strip, so the
  only full-size buffers are Pillow's decoded image and the 8-bit result (no
  float64 copy of the whole image);
* only common photo formats are opened (JPEG incl. MPO, PNG, GIF, WebP, BMP, TIFF),
  never formats whose plugins call external programs (EPS) or are rarely
  seen in shops;
* truncated or corrupt files are rejected (``ImageFile.LOAD_TRUNCATED_IMAGES``
  is never touched, so Pillow raises instead of padding with grey);
* large JPEGs are decoded with ``Image.draft`` (DCT scaling, 1/2 ... 1/8), so a
  12,000 px photo decodes in bounded time and memory; other large images (PNG, TIFF,
  WebP ..., above ``isolate_pixels``), which Pillow can only decode at full size, are
  decoded in a short-lived child process (:mod:`.decode_process`), so the caller's peak
  memory does not grow with the photo;
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
import subprocess
import sys
import threading
import warnings
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .types import ImageDecodeError

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_ISOLATE_PIXELS",
    "DEFAULT_MAX_ASPECT",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "ImageDecodeError",
    "ImageSource",
    "MIN_SIDE",
    "content_hash",
    "load_image",
    "read_source_bytes",
]

DEFAULT_MAX_PIXELS = 60_000_000
DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_SIDE = 1600
#: Images that cannot be decoded at a reduced scale (all but JPEG) and have more pixels than
#: this are decoded in a child process: in process they would add ~5 MB a megapixel to the
#: caller's peak (``benchmarks/image_size_cost.py``); the child costs ~0.1-0.2 s to start.
DEFAULT_ISOLATE_PIXELS = 16_000_000
#: Seconds a child process may take to decode one image.
ISOLATED_DECODE_TIMEOUT = 120
#: The child's answer (:mod:`.decode_process`): MAGIC, width and height ``<II``, RGB bytes; or
#: exit status DECODE_ERROR and the ImageDecodeError's message on stderr.
MAGIC = b"JVRGB1"
DECODE_ERROR = 3
#: Long side / short side above which an image is rejected: no jewelry photo is a
#: 20:1 strip, and every stage's buffers grow with the aspect ratio.
DEFAULT_MAX_ASPECT = 20.0
#: Images with a side shorter than this hold nothing to analyse.
MIN_SIDE = 8
#: Rows converted at a time when reducing high-bit-depth images to 8 bits.
_STRIP_ROWS = 256

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


def _check_shape(width: int, height: int, max_pixels: int, max_aspect: float) -> None:
    """Reject, before any pixel is decoded, a size no stage can handle within its bounds."""
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image has invalid size {width}x{height}")
    pixels = width * height
    if pixels > max_pixels:
        raise _pixel_limit_error(pixels, max_pixels)
    short, long = min(width, height), max(width, height)
    if short < MIN_SIDE:
        raise ImageDecodeError(
            f"image too small: {width}x{height} pixels; each side must be at least {MIN_SIDE} pixels"
        )
    if long > max_aspect * short:
        raise ImageDecodeError(
            f"image shape not supported: {width}x{height} pixels has an aspect ratio of "
            f"{long / short:.0f}:1, above the limit of {max_aspect:g}:1"
        )


def _open(data: bytes, max_pixels: int, max_aspect: float) -> ImageFile.ImageFile:
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
    _check_shape(*img.size, max_pixels, max_aspect)
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


def _strips(img: Image.Image):
    """The image's pixels as numpy arrays of at most ``_STRIP_ROWS`` rows, top to bottom."""
    width, height = img.size
    for top in range(0, height, _STRIP_ROWS):
        yield np.asarray(img.crop((0, top, width, min(height, top + _STRIP_ROWS))))


def _value_range(img: Image.Image) -> tuple[float, float]:
    """Smallest and largest finite value, read strip by strip (no full-size copy)."""
    lo, hi = np.inf, -np.inf
    for strip in _strips(img):
        if strip.dtype.kind == "f":
            strip = strip[np.isfinite(strip)]
        if strip.size:
            lo, hi = min(lo, float(strip.min())), max(hi, float(strip.max()))
    return (0.0, 0.0) if lo > hi else (lo, hi)


def _to_uint8_grey(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale to 8 bits ("L"), strip by strip.

    16-bit data maps 0..65535 to 0..255; 8-bit data stored in 32 bits is kept;
    float data in 0..1 or 0..255 is scaled to 0..255; anything else is stretched
    from its smallest to its largest finite value. NaN becomes 0, +inf 255.
    """
    offset, scale = 0.0, 1.0
    if img.mode.startswith("I;16"):
        scale = 1.0 / 257.0
    else:
        lo, hi = _value_range(img)
        if img.mode == "I" and lo >= 0 and hi <= 255:
            pass  # 8-bit data stored as 32-bit ints
        elif img.mode == "I" and lo >= 0 and hi <= 65535:
            scale = 1.0 / 257.0  # the usual case: 16-bit data (PNG/TIFF) held in mode "I"
        elif img.mode == "F" and lo >= 0 and hi <= 1:
            scale = 255.0
        elif img.mode == "F" and lo >= 0 and hi <= 255:
            pass
        else:
            offset, scale = lo, 255.0 / max(hi - lo, 1e-12 if img.mode == "F" else 1.0)
    out = np.empty((img.size[1], img.size[0]), np.uint8)
    top = 0
    for strip in _strips(img):
        values = (strip.astype(np.float32) - np.float32(offset)) * np.float32(scale)
        values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
        out[top : top + len(strip)] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        top += len(strip)
    return Image.fromarray(out, mode="L")


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _to_uint8_grey(img)  # "L"; made RGB after downscaling
    has_transparency = "transparency" in img.info
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (has_transparency and mode in ("P", "L", "RGB", "1")):
        if mode == "RGBa":
            img = img.convert("RGBA")  # un-premultiply
        elif mode == "La":
            img = img.convert("LA")
        return _composite_on_white(img)
    if mode in ("RGB", "L"):
        return img  # greyscale is made RGB after downscaling (a quarter of the memory)
    if mode == "1":
        return img.convert("L")
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


def _can_start_children() -> bool:
    """Whether ``sys.executable`` is a Python that can run the decoder (not, say, a uWSGI binary)."""
    return bool(sys.executable) and os.path.basename(sys.executable).lower().startswith(("python", "pypy"))


def _decode_in_child(data: bytes, max_pixels: int, max_side: int, max_aspect: float) -> Image.Image | None:
    """``load_image`` of ``data`` in a child process (:mod:`.decode_process`): the full-size decode's
    memory is the child's, returned to the system when it exits. None when no child can be started
    (the caller then decodes in process)."""
    if not _can_start_children():
        return None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env.setdefault("OMP_NUM_THREADS", "1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jewel_vision.vision.decode_process", str(max_pixels), str(max_side), str(max_aspect)],
            input=data, capture_output=True, timeout=ISOLATED_DECODE_TIMEOUT, env=env,
        )
    except subprocess.TimeoutExpired:
        raise ImageDecodeError(f"image took longer than {ISOLATED_DECODE_TIMEOUT} s to decode") from None
    except OSError:  # no process could be started (limits, a sandbox): decode here
        return None
    if proc.returncode == DECODE_ERROR:
        raise ImageDecodeError(proc.stderr.decode("utf-8", "replace").strip() or "cannot decode image")
    head = len(MAGIC) + 8
    if proc.returncode != 0 or proc.stdout[: len(MAGIC)] != MAGIC:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise ImageDecodeError(f"cannot decode image: the decoder process failed ({detail[0][:200]})")
    width, height = struct.unpack("<II", proc.stdout[len(MAGIC) : head])
    if len(proc.stdout) != head + width * height * 3:
        raise ImageDecodeError("cannot decode image: the decoder process returned a truncated image")
    return Image.frombytes("RGB", (width, height), proc.stdout[head:])


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_side: int = DEFAULT_MAX_SIDE,
    max_aspect: float = DEFAULT_MAX_ASPECT,
    isolate_pixels: int | None = DEFAULT_ISOLATE_PIXELS,
) -> Image.Image:
    """Decode ``source`` into an RGB image whose long side is at most ``max_side``.

    ``source`` may be a path, ``bytes``, a binary file object (read up to
    ``max_bytes + 1`` bytes from its current position) or a ``PIL.Image.Image``
    (already in memory: only the pixel limit, orientation, mode and size are
    handled). A file of more than ``isolate_pixels`` pixels that cannot be decoded
    at a reduced scale (not a JPEG) is decoded in a child process (None: never).
    Raises :class:`ImageDecodeError` for anything that cannot be decoded safely,
    including missing files.
    """
    if max_side < 1:
        raise ValueError("max_side must be >= 1")
    if isinstance(source, Image.Image):
        img = source
        _check_shape(*img.size, max_pixels, max_aspect)
        if hasattr(img, "tell") and img.tell() != 0:
            try:
                img.seek(0)  # first frame of an animation
            except EOFError:
                pass
        _load(img, max_pixels)
        orientation = _exif_orientation(img)
    else:
        data = read_source_bytes(source, max_bytes=max_bytes)
        img = _open(data, max_pixels, max_aspect)
        if (isolate_pixels is not None and img.format not in ("JPEG", "MPO")
                and img.size[0] * img.size[1] > isolate_pixels):
            decoded = _decode_in_child(data, max_pixels, max_side, max_aspect)
            if decoded is not None:
                img.close()
                return decoded
        _jpeg_draft(img, max_side)
        _load(img, max_pixels)  # decodes the first frame only (animated GIF/WebP/TIFF pages)
        # Only after load(): some plugins (PNG) load pixels lazily inside getexif(), and
        # _exif_orientation() swallows errors, which would hide a corrupt file.
        orientation = _exif_orientation(img)

    rgb = _to_rgb(img)
    if rgb is not img and not isinstance(source, Image.Image):
        img.close()  # free the decoded copy before resampling
    rgb = _downscale(rgb, max_side)
    if rgb.mode != "RGB":  # greyscale is resampled before it is tripled
        rgb = rgb.convert("RGB")
    rgb = _apply_orientation(rgb, orientation)
    if rgb is img:
        rgb = rgb.copy()  # never hand back the caller's object
    rgb.info.pop("exif", None)
    return rgb
