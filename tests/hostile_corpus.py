"""A corpus of hostile files for the upload paths and the decoding benchmark (issue 10, item 16).

``corpus()`` returns {file name: bytes}: slivers and extreme aspect ratios, decompression
bombs (header-only and real), 16-bit and float images, truncated JPEG and PNG, CMYK,
an animation, an EXIF rotation, a JPEG/ZIP polyglot, SVG and HTML under image names and
a 12,000 x 9,000 JPEG. ``tests/test_hostile_uploads.py`` pushes every file through each
upload path; ``benchmarks/hostile_files.py`` measures the memory and time of decoding them.
``EXPECTED`` says which decode (True) and which are refused (False) under the worker's
default limits (``PIPELINE``: 60 Mpx, 50 MB).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

EXPECTED: dict[str, bool] = {
    "sliver-20000x3.png": False,
    "sliver-3x20000.png": False,
    "strip-20to1-16000x800.png": True,
    "grey16-6300x6300.png": True,
    "float-6000x6000.tif": True,
    "bomb-header-100000x100000.png": False,
    "bomb-7000x7000-zeros.png": True,
    "truncated.jpg": False,
    "truncated.png": False,
    "cmyk.jpg": True,
    "animated-50-frames.gif": True,
    "exif-rotated.jpg": True,
    "svg-named.png": False,
    "html-named.jpg": False,
    "polyglot-jpeg-zip.jpg": True,
    "huge-jpeg-12000x9000.jpg": False,
}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[tuple[str, bytes], ...]:
    return tuple(_build().items())


def corpus() -> dict[str, bytes]:
    """{name: bytes} of every hostile file (built once per process)."""
    return dict(_corpus())


def _build() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8))
    files: dict[str, bytes] = {}
    files["sliver-20000x3.png"] = _save(Image.new("RGB", (20000, 3), (200, 180, 50)), "PNG", optimize=True)
    files["sliver-3x20000.png"] = _save(Image.new("RGB", (3, 20000), (200, 180, 50)), "PNG", optimize=True)
    files["strip-20to1-16000x800.png"] = _save(Image.new("RGB", (16000, 800), (200, 180, 50)), "PNG", optimize=True)
    files["grey16-6300x6300.png"] = _save(Image.fromarray(np.full((6300, 6300), 1000, np.uint16)), "PNG")
    files["float-6000x6000.tif"] = _save(
        Image.fromarray(np.zeros((6000, 6000), np.float32), "F"), "TIFF", compression="tiff_adobe_deflate"
    )
    files["bomb-header-100000x100000.png"] = _png_header_only(100_000, 100_000)
    files["bomb-7000x7000-zeros.png"] = _save(Image.new("L", (7000, 7000)), "PNG", optimize=True)
    jpeg = _save(photo, "JPEG", quality=90)
    files["truncated.jpg"] = jpeg[: len(jpeg) // 2]
    files["truncated.png"] = _save(photo, "PNG")[:5000]
    files["cmyk.jpg"] = _save(photo.convert("CMYK"), "JPEG")
    frames = [Image.new("P", (400, 300), i) for i in range(50)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    files["animated-50-frames.gif"] = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    files["exif-rotated.jpg"] = _save(photo, "JPEG", exif=exif.tobytes())
    files["svg-named.png"] = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>'
    files["html-named.jpg"] = b"<html><script>alert(1)</script></html>"
    files["polyglot-jpeg-zip.jpg"] = jpeg + b"PK\x03\x04" + b"\x00" * 1000
    files["huge-jpeg-12000x9000.jpg"] = _save(Image.new("RGB", (12000, 9000), (180, 160, 120)), "JPEG", quality=50)
    return files
