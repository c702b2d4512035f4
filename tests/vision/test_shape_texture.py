"""Shape (outline of the largest part) and texture rules on drawn masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewel_vision.vision import shape_texture as S

from ._drawn_pieces import PAPER, YELLOW, draw_ring



def _filled(draw_fn, size=(300, 300)):
    img = Image.new("RGB", size, PAPER)
    d = ImageDraw.Draw(img)
    draw_fn(d)
    return img, np.asarray(img.convert("L")) < 240


SHAPES = {
    "round": lambda d: d.ellipse((80, 80, 220, 220), fill=YELLOW),
    "oval": lambda d: d.ellipse((60, 100, 240, 200), fill=YELLOW),
    "square": lambda d: d.rectangle((90, 90, 210, 210), fill=YELLOW),
    "rectangle": lambda d: d.rectangle((60, 110, 240, 190), fill=YELLOW),
    "linear": lambda d: d.rectangle((20, 140, 280, 160), fill=YELLOW),
    "drop": lambda d: (d.ellipse((100, 150, 200, 250), fill=YELLOW),
                       d.polygon([(103, 185), (150, 50), (197, 185)], fill=YELLOW)),
    "heart": lambda d: (d.ellipse((80, 80, 155, 155), fill=YELLOW), d.ellipse((145, 80, 220, 155), fill=YELLOW),
                        d.polygon([(84, 132), (150, 235), (216, 132)], fill=YELLOW)),
}


@pytest.mark.parametrize("expected", sorted(SHAPES))
def test_shape_from_mask_geometry(expected):
    img, mask = _filled(SHAPES[expected])
    tags = S.shape_and_texture(img, mask)
    shapes = [t for t in tags if t.facet == "shape"]
    assert shapes and shapes[0].value == expected
    assert all(t.value in S.SHAPES for t in shapes)


def test_ring_band_counts_as_round():
    img, item, _, _ = draw_ring(YELLOW, PAPER, size=(300, 300))
    shapes = [t for t in S.shape_and_texture(img, item) if t.facet == "shape"]
    assert shapes[0].value in ("round", "oval")


def test_texture_polished_vs_sparkling():
    img, mask = _filled(SHAPES["round"])
    tex = [t for t in S.shape_and_texture(img, mask) if t.facet == "texture"]
    assert sorted(t.value for t in tex) == sorted(S.TEXTURES)
    assert sum(t.confidence for t in tex) == pytest.approx(1.0, abs=1e-6)
    assert tex[0].value == "polished"
    # pavé: many tiny bright points on the same disc
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(0)
    for _ in range(260):
        x, y = rng.uniform(95, 205, 2)
        d.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=(255, 255, 255))
        d.point((x + 3, y + 2), fill=(90, 70, 20))
    tex = [t for t in S.shape_and_texture(img, mask) if t.facet == "texture"]
    assert tex[0].value == "sparkling"
