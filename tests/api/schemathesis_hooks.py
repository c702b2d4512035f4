"""Schemathesis hooks: what "a photo" is, which OpenAPI cannot say.

The schema gives the photo part of ``POST /api/v1/search/photo/`` the media types
``image/jpeg, image/png, ...`` (multipart ``encoding``). Schemathesis, left alone, fills
such a part with any bytes or a 1 x 1 sample file, which the server rightly refuses
(400 ``invalid_image``: the description says so). With these hooks its positive
cases are real photos of each format (8 to 160 pixels a side, random content), so
``positive_data_acceptance`` checks what the schema promises. Load them in the CLI
with ``SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks`` (from the repository root);
the suite's schemathesis test does.
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st

FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
}


def _photo(fmt: str, width: int, height: int, seed: int, kind: str) -> bytes:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    if kind == "noise":
        img = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    else:
        img = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        if kind == "shapes":
            draw = ImageDraw.Draw(img)
            for _ in range(3):
                x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
                x1, y1 = int(rng.integers(x0, width + 1)), int(rng.integers(y0, height + 1))
                draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def photos(fmt: str) -> st.SearchStrategy[bytes]:
    return st.builds(
        _photo,
        st.just(fmt),
        st.integers(8, 160),
        st.integers(8, 160),
        st.integers(0, 2**32 - 1),
        st.sampled_from(["plain", "shapes", "noise"]),
    )


for _media_type, _fmt in FORMATS.items():
    schemathesis.openapi.media_type(_media_type, photos(_fmt))
