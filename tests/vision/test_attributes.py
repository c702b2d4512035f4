"""Rule-based attributes (material regions, metal tone, colours, shape, texture) on drawn pieces.

No Django, no model files, no dataset: every image is drawn here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from jewel_vision.vision import attributes as A
from jewel_vision.vision.types import Region, TagPrediction

YELLOW = (212, 175, 55)
WHITE = (200, 200, 205)
ROSE = (214, 150, 130)
SKIN = (224, 172, 140)
DARK_SKIN = (141, 85, 36)
BLUE_VELVET = (40, 60, 140)
PAPER = (250, 250, 248)


@pytest.fixture(autouse=True)
def _media_root():
    """Shadows the Django-settings fixture of tests/conftest.py: nothing here needs Django."""


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


# -- metal tone ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "metal,expected",
    [(YELLOW, "yellow"), (WHITE, "white"), (ROSE, "rose")],
)
@pytest.mark.parametrize("bg", [PAPER, SKIN, DARK_SKIN, BLUE_VELVET], ids=["paper", "skin", "dark-skin", "blue"])
def test_metal_tone_on_varied_backgrounds(metal, expected, bg):
    img, item, _, _ = draw_ring(metal, bg)
    assert tone_of(A.metal_tone(img, loose(item))) == expected


def test_metal_tone_ignores_the_stone_and_uses_metal_mask():
    img, item, metal, _ = draw_ring(WHITE, PAPER, stone=(200, 20, 40))
    assert tone_of(A.metal_tone(img, item)) == "white"
    assert tone_of(A.metal_tone(img, item, metal_mask=metal)) == "white"


def test_metal_tone_without_a_mask_uses_the_border_as_background():
    img, _, _, _ = draw_ring(ROSE, SKIN)
    assert tone_of(A.metal_tone(img, None)) == "rose"


def test_metal_tone_accepts_float_and_uint8_masks():
    img, item, _, _ = draw_ring(YELLOW, SKIN)
    soft = item.astype(np.float32) * 0.9
    assert tone_of(A.metal_tone(img, soft)) == "yellow"
    assert tone_of(A.metal_tone(img, item.astype(np.uint8) * 255)) == "yellow"


# -- material regions ----------------------------------------------------------------------------
def test_material_regions_split_metal_and_stone():
    img, item, metal, stone = draw_ring(YELLOW, PAPER, stone=(200, 20, 40))
    regions = A.material_regions(img, item, item_model="u2netp", item_model_version="abc")
    assert all(isinstance(r, Region) for r in regions)
    by = {r.label: r for r in regions}
    assert set(by) == {"item", "metal", "stone"}
    assert by["item"].model == "u2netp" and by["item"].model_version == "abc"
    total = img.size[0] * img.size[1]
    assert by["item"].area_fraction == pytest.approx(item.sum() / total, rel=1e-6)
    assert by["metal"].area_fraction + by["stone"].area_fraction <= by["item"].area_fraction + 1e-9
    assert by["stone"].area_fraction == pytest.approx(stone.sum() / total, rel=0.35)
    assert by["metal"].area_fraction == pytest.approx(metal.sum() / total, rel=0.35)
    stone_mask = A.png_to_mask(by["stone"].mask_png)
    assert stone_mask.shape == (img.size[1], img.size[0])
    overlap = (stone_mask & stone).sum() / max(1, (stone_mask | stone).sum())
    assert overlap > 0.6
    with Image.open(__import__("io").BytesIO(by["metal"].mask_png)) as png:
        assert png.mode == "L" and png.size == img.size


def test_material_regions_plain_metal_has_no_stone():
    img, item, _, _ = draw_ring(ROSE, PAPER)
    labels = {r.label for r in A.material_regions(img, item)}
    assert labels == {"item", "metal"}


def test_material_regions_empty_mask():
    img, _, _, _ = draw_ring(YELLOW, PAPER)
    regions = A.material_regions(img, np.zeros((img.size[1], img.size[0]), bool))
    assert [r.label for r in regions] == ["item"]
    assert regions[0].area_fraction == 0.0


# -- colours --------------------------------------------------------------------------------------
def test_colours_find_a_red_stone_and_the_metal():
    img, item, _, _ = draw_ring(WHITE, PAPER, stone=(200, 20, 40))
    tags = A.colours(img, item)
    values = [t.value for t in tags]
    assert all(t.facet == "colour" and t.value in A.COLOUR_PALETTE for t in tags)
    assert "red" in values and "silver" in values
    assert values[0] == "silver"  # the band is bigger than the stone
    assert sum(t.confidence for t in tags if t.value != "multicolour") <= 1.0 + 1e-6


@pytest.mark.parametrize("stone,name", [((30, 60, 190), "blue"), ((20, 150, 60), "green")])
def test_colours_name_other_stones(stone, name):
    img, item, _, _ = draw_ring(YELLOW, SKIN, stone=stone)
    values = [t.value for t in A.colours(img, loose(item))]
    assert name in values and "gold" in values
    assert "pink" not in values and "brown" not in values  # the skin around it is not counted


def test_multicolour():
    img = Image.new("RGB", (300, 200), PAPER)
    d = ImageDraw.Draw(img)
    for i, c in enumerate([(200, 20, 40), (30, 60, 190), (20, 150, 60), (240, 200, 20)]):
        d.ellipse((20 + 70 * i, 70, 80 + 70 * i, 130), fill=c)
    mask = np.asarray(img.convert("L")) < 240
    values = [t.value for t in A.colours(img, mask)]
    assert "multicolour" in values


# -- shape and texture --------------------------------------------------------------------------------
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
    tags = A.shape_and_texture(img, mask)
    shapes = [t for t in tags if t.facet == "shape"]
    assert shapes and shapes[0].value == expected
    assert all(t.value in A.SHAPES for t in shapes)


def test_ring_band_counts_as_round():
    img, item, _, _ = draw_ring(YELLOW, PAPER, size=(300, 300))
    shapes = [t for t in A.shape_and_texture(img, item) if t.facet == "shape"]
    assert shapes[0].value in ("round", "oval")


def test_texture_polished_vs_sparkling():
    img, mask = _filled(SHAPES["round"])
    tex = [t for t in A.shape_and_texture(img, mask) if t.facet == "texture"]
    assert sorted(t.value for t in tex) == sorted(A.TEXTURES)
    assert sum(t.confidence for t in tex) == pytest.approx(1.0, abs=1e-6)
    assert tex[0].value == "polished"
    # pavé: many tiny bright points on the same disc
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(0)
    for _ in range(260):
        x, y = rng.uniform(95, 205, 2)
        d.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=(255, 255, 255))
        d.point((x + 3, y + 2), fill=(90, 70, 20))
    tex = [t for t in A.shape_and_texture(img, mask) if t.facet == "texture"]
    assert tex[0].value == "sparkling"


def test_describe_matches_the_separate_functions():
    img, item, _, _ = draw_ring(ROSE, SKIN, stone=(200, 20, 40))
    regions, tags = A.describe(img, item)
    assert [r.label for r in regions] == [r.label for r in A.material_regions(img, item)]
    assert [t.value for t in tags if t.facet == "metal_tone"][0] == "rose"
    assert [(t.value, round(t.confidence, 6)) for t in tags if t.facet == "colour"] == [
        (t.value, round(t.confidence, 6)) for t in A.colours(img, item)
    ]
    assert {t.facet for t in tags} == {"metal_tone", "colour", "shape", "texture"}


def test_deterministic():
    img, item, _, _ = draw_ring(YELLOW, BLUE_VELVET, stone=(30, 60, 190))
    a = [t.to_dict() for t in A.describe(img, item)[1]]
    b = [t.to_dict() for t in A.describe(img, item)[1]]
    assert a == b


def test_lab_conversion_reference_values():
    lab = A.rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    assert lab[0] == pytest.approx([100, 0, 0], abs=0.1)
    assert lab[1] == pytest.approx([0, 0, 0], abs=0.1)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.1)
