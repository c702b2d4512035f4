"""Drawn test images (no dataset files)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def draw_ring(size=(320, 240), bg=(255, 255, 255), metal=(212, 175, 55), stone=(200, 30, 60)) -> Image.Image:
    """A crude 'ring': a thick ellipse with a stone, on a plain background."""
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    w, h = size
    d.ellipse((w * 0.3, h * 0.35, w * 0.7, h * 0.85), outline=metal, width=max(4, w // 30))
    d.ellipse((w * 0.44, h * 0.2, w * 0.56, h * 0.38), fill=stone, outline=metal, width=3)
    return img


def draw_necklace(size=(320, 320), bg=(255, 255, 255)) -> Image.Image:
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    w, h = size
    d.arc((w * 0.1, -h * 0.4, w * 0.9, h * 0.8), start=20, end=160, fill=(190, 190, 200), width=5)
    d.ellipse((w * 0.45, h * 0.72, w * 0.55, h * 0.85), fill=(30, 90, 200))
    return img


def to_bytes(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()
