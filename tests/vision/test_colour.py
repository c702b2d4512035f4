"""Colour arithmetic: sRGB -> Lab reference values and skin-like pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jewel_vision.vision.colour import palette_names, rgb_to_lab, skin_fraction



def test_lab_conversion_reference_values():
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    assert lab[0] == pytest.approx([100, 0, 0], abs=0.1)
    assert lab[1] == pytest.approx([0, 0, 0], abs=0.1)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.1)


def test_skin_fraction_tells_a_hand_from_paper():
    assert skin_fraction(Image.new("RGB", (64, 48), (224, 172, 140))) == 1.0
    assert skin_fraction(Image.new("RGB", (64, 48), (250, 250, 248))) == 0.0


def test_palette_names_of_neutral_and_chromatic_pixels():
    rgb = np.array([[250, 250, 250], [128, 128, 128], [10, 10, 10], [200, 20, 30], [30, 60, 190]], np.uint8)
    assert list(palette_names(rgb_to_lab(rgb), rgb)) == ["white", "silver", "black", "red", "blue"]
