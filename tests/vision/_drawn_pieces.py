"""Drawn jewelry for the attribute tests: a shaded ring band with an optional stone, on a chosen background."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from jewel_vision.vision.types import TagPrediction

YELLOW = (212, 175, 55)
WHITE = (200, 200, 205)
ROSE = (214, 150, 130)
SKIN = (224, 172, 140)
DARK_SKIN = (141, 85, 36)
BLUE_VELVET = (40, 60, 140)
PAPER = (250, 250, 248)


def _shade(rgb, f):
    return tuple(int(max(0, min(255, c * f))) for c in rgb)


def draw_ring(metal, bg, stone=None, size=(320, 280), seed=0):
    """A shaded ring band (optionally with a round stone on top). Returns image, item, metal, stone masks."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    box = (w * 0.25, h * 0.3, w * 0.75, h * 0.88)
    width = 20
    for a0 in range(0, 360, 6):  # metal shading: bright and dark sides
        f = 0.75 + 0.4 * math.cos(math.radians(2 * a0 + 30))
        d.arc(box, a0, a0 + 7, fill=_shade(metal, f), width=width)
    d.arc((box[0] + 6, box[1] + 6, box[2] - 6, box[3] - 6), 200, 235, fill=_shade(metal, 1.4), width=3)
    metal_m = Image.new("L", size, 0)
    ImageDraw.Draw(metal_m).ellipse(box, outline=255, width=width)
    stone_m = Image.new("L", size, 0)
    if stone is not None:
        sb = (w * 0.5 - 26, h * 0.3 - 40, w * 0.5 + 26, h * 0.3 + 12)
        d.ellipse(sb, fill=stone)
        d.ellipse((sb[0] + 10, sb[1] + 8, sb[0] + 22, sb[1] + 18), fill=_shade(stone, 1.3))
        ImageDraw.Draw(stone_m).ellipse(sb, fill=255)
        ImageDraw.Draw(metal_m).ellipse(sb, fill=0)
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    arr = np.asarray(img, np.float32) + rng.normal(0, 2.5, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    sm = np.asarray(stone_m) > 127
    mm = np.asarray(metal_m) > 127
    return img, mm | sm, mm & ~sm, sm


def loose(mask, px=4):
    """A sloppy mask: the drawn one grown by a few pixels, so background leaks in."""
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=px)


def tone_of(tags):
    assert all(isinstance(t, TagPrediction) and t.facet == "metal_tone" for t in tags)
    assert sorted(t.value for t in tags) == ["rose", "white", "yellow"]
    assert sum(t.confidence for t in tags) == pytest.approx(1.0, abs=1e-6)
    assert tags[0].confidence == max(t.confidence for t in tags)
    return tags[0].value

