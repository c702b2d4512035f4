"""The child process of :func:`jewel_vision.vision.image_io.load_image` for large images that cannot
be decoded at a reduced scale (PNG, TIFF, WebP, ...: only JPEG has DCT scaling).

Pillow holds such an image at full size (4 bytes a pixel, +216 MB at 40 Mpx) before the first
downscale. Decoded here, that memory belongs to a short-lived process and goes back to the system
when it exits, so a worker's or web process's peak memory stays flat whatever the photo's size;
a decoder that crashes on a hostile file takes only this process down.

Protocol: the file's bytes on stdin; ``max_pixels max_side max_aspect`` as arguments; the answer
as ``image_io.MAGIC`` and ``image_io.DECODE_ERROR`` say.
"""

from __future__ import annotations

import struct
import sys

from .image_io import DECODE_ERROR, MAGIC, load_image
from .types import ImageDecodeError


def main(argv: list[str]) -> int:
    max_pixels, max_side, max_aspect = int(argv[0]), int(argv[1]), float(argv[2])
    data = sys.stdin.buffer.read()
    try:
        img = load_image(data, max_pixels=max_pixels, max_bytes=len(data), max_side=max_side,
                         max_aspect=max_aspect, isolate_pixels=None)
    except ImageDecodeError as exc:
        sys.stderr.write(str(exc))
        return DECODE_ERROR
    del data
    out = sys.stdout.buffer
    out.write(MAGIC + struct.pack("<II", *img.size))
    out.write(img.tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
