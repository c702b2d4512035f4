"""load_image: every awkward input either decodes correctly or raises a clear ImageDecodeError, fast."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from jewel_vision.vision.image_io import content_hash, load_image
from jewel_vision.vision.types import ImageDecodeError

from ._images import draw_ring, to_bytes

pytestmark = pytest.mark.timeout(30)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny file whose header claims width x height pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def pixel(img: Image.Image, xy) -> tuple[int, int, int]:
    return tuple(int(v) for v in img.getpixel(xy))


def close(a, b, tol=12) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


# --- inputs that must be rejected ---------------------------------------------------------
def test_empty_bytes():
    with pytest.raises(ImageDecodeError, match="^empty file$"):
        load_image(b"")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty file"):
        load_image(path)


@pytest.mark.parametrize(
    "data",
    [b"hello, this is not a photo" * 10, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", b"\x00" * 1000],
    ids=["text", "pdf", "eps", "zeros"],
)
def test_not_an_image(data):
    with pytest.raises(ImageDecodeError, match="^not an image: cannot identify image file"):
        load_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_truncated_is_rejected(fmt):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, size=(200, 300, 3), dtype=np.uint8))
    data = to_bytes(img, fmt)
    cut = data[: len(data) // 2]
    with pytest.raises(ImageDecodeError) as info:
        load_image(cut)
    message = str(info.value)
    assert message == "image is truncated" or message.startswith(("image data is corrupt", "not an image")), message
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_truncated_jpeg_message(ring_jpeg):
    with pytest.raises(ImageDecodeError, match="^image is truncated$"):
        load_image(ring_jpeg[: len(ring_jpeg) * 2 // 3])


def test_corrupt_png_header_crc():
    data = bytearray(to_bytes(draw_ring(), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 17] ^= 0xFF  # IHDR's CRC no longer matches
    with pytest.raises(ImageDecodeError, match="^not an image"):
        load_image(bytes(data))


def test_corrupt_png_stream():
    data = bytearray(to_bytes(draw_ring(), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 4 : idat + 6] = b"\xff\xff"  # invalid zlib header
    with pytest.raises(ImageDecodeError, match="^image data is corrupt"):
        load_image(bytes(data))


def test_decompression_bomb_rejected_from_header_quickly():
    data = png_with_header_size(12_000, 12_000)
    assert len(data) < 200
    start = time.perf_counter()
    with pytest.raises(ImageDecodeError, match=r"^image too large: 144000000 pixels exceeds limit 60000000$"):
        load_image(data)
    assert time.perf_counter() - start < 1.0


def test_bomb_beyond_pillows_own_limit():
    # 40000 x 40000 = 1.6e9 pixels: Pillow itself raises DecompressionBombError in open().
    with pytest.raises(ImageDecodeError, match=r"^image too large: 1600000000 pixels exceeds limit 60000000$"):
        load_image(png_with_header_size(40_000, 40_000))


def test_pillow_bomb_warning_becomes_error():
    # Our limit raised above Pillow's warning threshold (~89 M pixels): the warning is an error.
    with pytest.raises(ImageDecodeError, match=r"^image too large: 100000000 pixels exceeds limit 89478485$"):
        load_image(png_with_header_size(10_000, 10_000), max_pixels=150_000_000)


def test_max_pixels_is_configurable():
    data = to_bytes(Image.new("RGB", (100, 100), "red"), "PNG")
    with pytest.raises(ImageDecodeError, match="10000 pixels exceeds limit 9999"):
        load_image(data, max_pixels=9_999)


def test_max_bytes(tmp_path):
    data = to_bytes(draw_ring(), "PNG")
    with pytest.raises(ImageDecodeError, match=r"^file too large: \d+ bytes exceeds limit 100$"):
        load_image(data, max_bytes=100)
    path = tmp_path / "ring.png"
    path.write_bytes(data)
    with pytest.raises(ImageDecodeError, match="file too large"):
        load_image(path, max_bytes=100)
    with pytest.raises(ImageDecodeError, match="file too large"):
        load_image(io.BytesIO(data), max_bytes=100)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageDecodeError, match="file not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageDecodeError, match="is a directory"):
        load_image(tmp_path)


def test_text_mode_file_object(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello")
    with open(path) as fh, pytest.raises(ImageDecodeError, match="binary mode"):
        load_image(fh)


def test_unsupported_source_type():
    with pytest.raises(ImageDecodeError, match="unsupported image source"):
        load_image(12345)  # type: ignore[arg-type]


# --- inputs that must decode correctly ----------------------------------------------------
def test_sources_path_bytes_file_and_pil(tmp_path, ring_image):
    data = to_bytes(ring_image, "PNG")
    path = tmp_path / "ring.png"
    path.write_bytes(data)
    results = [load_image(data), load_image(path), load_image(str(path)), load_image(io.BytesIO(data)), load_image(ring_image)]
    for img in results:
        assert img.mode == "RGB"
        assert img.size == ring_image.size
        assert np.array_equal(np.asarray(img), np.asarray(ring_image))
    assert results[-1] is not ring_image


def test_downscale_keeps_aspect():
    img = load_image(to_bytes(Image.new("RGB", (3000, 1000), (10, 20, 30)), "PNG"), max_side=1600)
    assert img.size == (1600, 533)
    assert pixel(img, (800, 266)) == (10, 20, 30)
    small = load_image(to_bytes(Image.new("RGB", (300, 200)), "PNG"))
    assert small.size == (300, 200)  # never upscaled


def test_huge_jpeg_uses_draft_and_is_fast():
    # 8000 x 6000 = 48 M pixels; a smooth gradient encodes small and fast.
    x = np.linspace(0, 255, 8000, dtype=np.float32)
    row = np.stack([x, 255 - x, np.full_like(x, 128)], axis=1).astype(np.uint8)
    arr = np.broadcast_to(row[None, :, :], (6000, 8000, 3))
    data = to_bytes(Image.fromarray(np.ascontiguousarray(arr)), "JPEG", quality=70)
    opened = Image.open(io.BytesIO(data))
    opened.draft(None, (1600, 1200))
    assert opened.size == (2000, 1500)  # Pillow will decode at 1/4 scale
    start = time.perf_counter()
    img = load_image(data, max_side=1600)
    elapsed = time.perf_counter() - start
    assert img.size == (1600, 1200)
    assert elapsed < 2.0, elapsed
    assert close(pixel(img, (5, 600)), (0, 255, 128), tol=20)
    assert close(pixel(img, (1594, 600)), (255, 0, 128), tol=20)


def test_cmyk_jpeg_and_tiff():
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red in CMYK
    for fmt in ("JPEG", "TIFF"):
        img = load_image(to_bytes(cmyk, fmt))
        assert img.mode == "RGB" and img.size == (64, 48)
        assert close(pixel(img, (32, 24)), (255, 0, 0), tol=20), (fmt, pixel(img, (32, 24)))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_greyscale_scaled_to_8bit(fmt):
    arr = np.zeros((32, 64), dtype=np.uint16)
    arr[:, :16] = 0
    arr[:, 16:32] = 16384  # 1/4
    arr[:, 32:48] = 32768  # 1/2
    arr[:, 48:] = 65535
    src = Image.fromarray(arr)
    assert src.mode.startswith("I;16")
    data = to_bytes(src, fmt)
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I;16B", "I;16L", "I")
    img = load_image(data)
    assert img.mode == "RGB"
    assert close(pixel(img, (8, 8)), (0, 0, 0), tol=1)
    assert close(pixel(img, (24, 8)), (64, 64, 64), tol=1)
    assert close(pixel(img, (40, 8)), (128, 128, 128), tol=1)
    assert close(pixel(img, (56, 8)), (255, 255, 255), tol=1)


def test_32bit_int_and_float_images():
    arr = np.array([[0, 32768, 65535]], dtype=np.int32).repeat(8, 0).repeat(8, 1)
    img = load_image(Image.fromarray(arr, mode="I"))
    assert [pixel(img, (8 * x + 4, 0))[0] for x in range(3)] == [0, 128, 255]
    f = np.array([[0.0, 0.5, 1.0]], dtype=np.float32).repeat(8, 0).repeat(8, 1)
    img = load_image(to_bytes(Image.fromarray(f, mode="F"), "TIFF"))
    assert [pixel(img, (8 * x + 4, 0))[0] for x in range(3)] == [0, 128, 255]


def test_float_with_nan_inf_and_wide_range():
    f = np.array([[np.nan, -np.inf, np.inf, -1000.0, 0.0, 1000.0]], dtype=np.float32).repeat(8, 0).repeat(8, 1)
    img = load_image(Image.fromarray(f, mode="F"))
    assert [pixel(img, (8 * x + 4, 0))[0] for x in range(6)] == [0, 0, 255, 0, 128, 255]


def test_rgba_transparency_composited_on_white():
    rgba = Image.new("RGBA", (40, 20), (0, 0, 0, 0))  # fully transparent *black*
    rgba.paste((255, 0, 0, 255), (20, 0, 40, 20))
    rgba.paste((0, 0, 255, 128), (0, 0, 10, 20))
    img = load_image(to_bytes(rgba, "PNG"))
    assert img.mode == "RGB"
    assert pixel(img, (15, 10)) == (255, 255, 255)
    assert pixel(img, (30, 10)) == (255, 0, 0)
    assert close(pixel(img, (5, 10)), (127, 127, 255), tol=2)


def test_la_and_palette_with_transparency():
    la = Image.new("LA", (20, 20), (0, 0))
    la.paste((50, 255), (10, 0, 20, 20))
    img = load_image(to_bytes(la, "PNG"))
    assert pixel(img, (5, 5)) == (255, 255, 255) and pixel(img, (15, 5)) == (50, 50, 50)

    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    pal.paste(1, (10, 0, 20, 20))
    for fmt, kwargs in (("GIF", {"transparency": 0}), ("PNG", {"transparency": 0})):
        img = load_image(to_bytes(pal, fmt, **kwargs))
        assert pixel(img, (5, 5)) == (255, 255, 255), fmt
        assert pixel(img, (15, 5)) == (0, 128, 0), fmt


def test_palette_and_bilevel_without_transparency():
    pal = Image.new("P", (10, 10), 1)
    pal.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    assert pixel(load_image(to_bytes(pal, "PNG")), (5, 5)) == (200, 10, 10)
    bw = Image.new("1", (10, 10), 1)
    assert pixel(load_image(to_bytes(bw, "BMP")), (5, 5)) == (255, 255, 255)
    grey = Image.new("L", (10, 10), 77)
    assert pixel(load_image(to_bytes(grey, "JPEG")), (5, 5)) == (77, 77, 77) or close(
        pixel(load_image(to_bytes(grey, "JPEG")), (5, 5)), (77, 77, 77), tol=2
    )


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = to_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    img = load_image(data)
    assert close(pixel(img, (15, 15)), (255, 0, 0), tol=3)
    webp = to_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert close(pixel(load_image(webp), (15, 15)), (255, 0, 0), tol=3)


def _oriented_jpeg(orientation: int) -> bytes:
    base = Image.new("RGB", (200, 100), (255, 0, 0))
    base.paste((0, 0, 255), (100, 0, 200, 100))  # left red, right blue
    base.paste((0, 255, 0), (0, 0, 20, 20))  # green marker top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    return to_bytes(base, "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    data = _oriented_jpeg(orientation)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    img = load_image(data)
    assert img.size == expected.size
    diff = np.abs(np.asarray(img, np.int16) - np.asarray(expected, np.int16))
    assert diff.max() <= 2


def test_exif_orientation_6_is_rotated_clockwise():
    img = load_image(_oriented_jpeg(6))
    assert img.size == (100, 200)  # portrait after rotation
    assert close(pixel(img, (50, 50)), (255, 0, 0), tol=20)  # the left (red) half is now on top
    assert close(pixel(img, (50, 150)), (0, 0, 255), tol=20)
    assert close(pixel(img, (90, 10)), (0, 255, 0), tol=40)  # the marker moved to the top-right


def test_exif_orientation_with_downscale():
    base = Image.new("RGB", (2000, 1000), (255, 0, 0))
    base.paste((0, 0, 255), (1000, 0, 2000, 1000))
    exif = Image.Exif()
    exif[0x0112] = 8
    img = load_image(to_bytes(base, "JPEG", exif=exif.tobytes()), max_side=500)
    assert img.size == (250, 500)
    assert close(pixel(img, (125, 400)), (255, 0, 0), tol=20)  # orientation 8: left half ends at the bottom


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_corrupt_exif_is_ignored(ring_image):
    data = bytearray(to_bytes(ring_image, "JPEG", exif=b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"))
    img = load_image(bytes(data))
    assert img.size == ring_image.size


def test_content_hash():
    assert content_hash(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_hash(b"abc") != content_hash(b"abd")
    assert len(content_hash(b"x" * 10)) == 64


def test_pil_input_is_not_modified():
    src = Image.new("RGB", (3200, 1600), (1, 2, 3))
    out = load_image(src, max_side=800)
    assert out.size == (800, 400) and src.size == (3200, 1600)
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    load_image(rgba)
    assert rgba.mode == "RGBA" and rgba.getpixel((0, 0)) == (0, 0, 0, 0)


def test_threads_decode_concurrently(ring_jpeg):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(lambda _: load_image(ring_jpeg).size, range(16)))
    assert set(sizes) == {(320, 240)}


# --- shape and bit depth: memory bounded by the image, not the file ------------------------
@pytest.mark.parametrize("size", [(20000, 3), (3, 20000), (2100, 100), (100, 2100)])
def test_slivers_are_rejected_before_decoding(size):
    data = png_with_header_size(*size)  # a few hundred bytes claiming a strip
    with pytest.raises(ImageDecodeError, match=r"^image (too small|shape not supported)"):
        load_image(data)


def test_aspect_limit_is_configurable_and_inclusive():
    img = Image.new("RGB", (400, 20), (200, 180, 50))
    assert load_image(to_bytes(img, "PNG")).size == (400, 20)  # exactly 20:1
    with pytest.raises(ImageDecodeError, match=r"aspect ratio of 20:1, above the limit of 10:1"):
        load_image(to_bytes(img, "PNG"), max_aspect=10)


def test_pil_sliver_is_rejected_too():
    with pytest.raises(ImageDecodeError, match="image too small"):
        load_image(Image.new("RGB", (1600, 1)))


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_high_bit_depth_is_reduced_without_full_size_float_copies(mode):
    """A 16-bit or float image used to be copied as float64 at full size (8 bytes a pixel)."""
    import tracemalloc

    side = 3000
    if mode == "F":
        src = Image.fromarray(np.linspace(0, 1, side * side, dtype=np.float32).reshape(side, side), "F")
        data = to_bytes(src, "TIFF")
    else:
        src = Image.fromarray((np.arange(side * side) % 65536).astype(np.uint16).reshape(side, side))
        data = to_bytes(src, "PNG")
    tracemalloc.start()
    try:
        out = load_image(data, max_side=800)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.size == (800, 800) and out.mode == "RGB"
    # Python and numpy buffers only (Pillow's own are not traced): the 8-bit result (9 MB),
    # its copy into Pillow and a few strips; a float64 copy alone would be 72 MB.
    assert peak < 3 * side * side, f"numpy peak {peak / 2**20:.0f} MiB"
