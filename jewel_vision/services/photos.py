"""A shopper's photo (search by photo): checked, decoded and boxed before any model sees it.

Size is checked first (``Content-Length``, then the file), then the image is
decoded by :func:`jewel_vision.vision.image_io.load_image`, which checks the
pixel count in the header before decoding and rejects anything that is not a
JPEG, PNG, GIF, WebP, BMP or TIFF photo.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from jewel_vision.conf import jv_settings
from jewel_vision.registry import pipeline_config
from jewel_vision.vision.image_io import MIN_SIDE, load_image
from jewel_vision.vision.types import ImageDecodeError


class PhotoRejected(ValueError):
    """The photo cannot be searched with; the message says why (the API answers 400)."""

    status_code = 400


class PhotoTooLarge(PhotoRejected):
    """The file or its pixel count is over the shop's upload limits (the API answers 413)."""

    status_code = 413


class PhotoSearchUnavailable(Exception):
    """The photo could not be sent to a worker (broker down, no result backend): the API answers 503."""

    status_code = 503


class PhotoSearchTimeout(PhotoSearchUnavailable):
    """No worker analysed the photo within ``PHOTO_SEARCH_TIMEOUT``: the API answers 504."""

    status_code = 504


# Multipart overhead allowed on top of the file itself.
_ENVELOPE = 64 * 1024


def check_content_length(request: Any) -> None:
    """Refuse a request whose declared size is over the limit, before reading its body."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = jv_settings.UPLOAD_MAX_BYTES
    if length > limit + _ENVELOPE:
        raise PhotoTooLarge(f"file too large: the request has {length} bytes, the limit is {limit} bytes")


def read_upload(upload: Any) -> bytes:
    """The bytes of an uploaded file, refusing files over the limit without reading them whole."""
    limit = jv_settings.UPLOAD_MAX_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise PhotoTooLarge(f"file too large: {size} bytes exceeds limit {limit}")
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise PhotoTooLarge(f"file too large: more than {limit} bytes")
    if not data:
        raise PhotoRejected("empty file")
    return data


def decode_upload(data: bytes) -> Image.Image:
    """Decode within the upload limits, as the pipeline decodes (its max_side, max_aspect and
    isolate_pixels); ImageDecodeError becomes PhotoRejected or PhotoTooLarge."""
    cfg = pipeline_config()
    try:
        return load_image(
            data,
            max_pixels=jv_settings.UPLOAD_MAX_PIXELS,
            max_bytes=jv_settings.UPLOAD_MAX_BYTES,
            max_side=cfg.max_side,
            max_aspect=cfg.max_aspect,
            isolate_pixels=cfg.isolate_pixels,
        )
    except ImageDecodeError as exc:
        message = str(exc)
        if message.startswith(("image too large", "file too large")):
            raise PhotoTooLarge(message) from None
        raise PhotoRejected(message) from None


def parse_box(value: Any) -> tuple[float, float, float, float] | None:
    """A box "x0,y0,x1,y1" normalised to 0..1 (or a list of four numbers).

    The corners may come in any order; a box narrower or lower than ``MIN_BOX`` is
    widened to ``MIN_BOX`` around its centre (inside the photo). So any four numbers
    from 0 to 1 are a box, which the API's schema can say with a pattern.
    """
    if value in (None, "", []):
        return None
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        box = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError("box must be four numbers x0,y0,x1,y1 between 0 and 1") from None
    if len(box) != 4 or not all(0.0 <= v <= 1.0 for v in box):
        raise ValueError("box must be four numbers x0,y0,x1,y1 between 0 and 1")
    x0, x1 = _span(box[0], box[2])
    y0, y1 = _span(box[1], box[3])
    return (x0, y0, x1, y1)


#: The smallest side of a box, as a fraction of the photo's side.
MIN_BOX = 0.02


def _span(a: float, b: float) -> tuple[float, float]:
    lo, hi = min(a, b), max(a, b)
    if hi - lo < MIN_BOX:
        centre = min(max((lo + hi) / 2, MIN_BOX / 2), 1 - MIN_BOX / 2)
        lo, hi = centre - MIN_BOX / 2, centre + MIN_BOX / 2
    return lo, hi


def too_small(image: Image.Image) -> bool:
    """A picked piece too small to look at (a box of a few pixels). A photo of nothing is the
    pipeline's to judge (``vision.pipeline.is_blank``): it gives no tags, so nothing is recognised."""
    return min(image.size) < MIN_SIDE


def crop(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The part of ``image`` inside ``box`` (corners normalised to 0..1), at least one pixel."""
    w, h = image.size
    x0, y0, x1, y1 = box
    return image.crop((int(x0 * w), int(y0 * h), max(int(x1 * w), int(x0 * w) + 1), max(int(y1 * h), int(y0 * h) + 1)))


def to_message(image: Image.Image) -> str:
    """A decoded (already downscaled) photo as text for a task message: base64 of a JPEG."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=92)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def from_message(text: str) -> Image.Image:
    """The photo :func:`to_message` wrote, decoded within the upload limits again (a worker trusts no message)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise PhotoRejected(f"not a photo message: {exc}") from None
    return decode_upload(data)
