"""Rule-based attributes (material regions, metal tone, colours, shape, texture) on drawn pieces.

No Django, no model files, no dataset: every image is drawn here.
"""


from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewel_vision.vision import attributes as A
from jewel_vision.vision.mask_codec import png_to_mask
from jewel_vision.vision.types import Region

from ._drawn_pieces import BLUE_VELVET, PAPER, ROSE, SKIN, WHITE, YELLOW, draw_ring, loose


@pytest.fixture(autouse=True)
def _media_root():
    """Shadows the Django-settings fixture of tests/conftest.py: nothing here needs Django."""



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
    stone_mask = png_to_mask(by["stone"].mask_png)
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
    assert sum(t.coverage for t in tags if t.value != "multicolour") <= 1.0 + 1e-6
    # a colour is measured: its coverage is the share of the piece, and its confidence is made from it
    assert all(0 < t.coverage <= 1 and t.confidence == A.colour_confidence(t.coverage) for t in tags)
    assert A.colour_confidence(0.25) == 0.25  # shown where it covers the display threshold's share
    _, described = A.describe(img, item)
    assert all((t.coverage is not None) == (t.facet == "colour") for t in described)


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
