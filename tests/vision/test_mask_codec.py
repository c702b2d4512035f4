"""Masks as single-channel PNGs, and masks in any form as bool arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from jewel_vision.vision.mask_codec import as_bool_mask, mask_to_png, png_to_mask


def test_mask_png_round_trip() -> None:
    mask = np.zeros((30, 40), bool)
    mask[5:10, 8:20] = True
    png = mask_to_png(mask)
    back = Image.open(io.BytesIO(png))
    assert back.mode == "L" and back.size == (40, 30)
    assert np.array_equal(png_to_mask(png), mask)
    assert np.array_equal(png_to_mask(mask_to_png(mask.astype(np.float32) * 0.9)), mask)
    with pytest.raises(ValueError):
        mask_to_png(np.zeros((2, 3, 3), bool))


def test_as_bool_mask_accepts_every_form_and_resizes() -> None:
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    assert as_bool_mask(None, (6, 4)).all()
    for form in (mask, mask.astype(np.uint8) * 255, mask.astype(np.float32), np.dstack([mask.astype(np.uint8) * 255] * 3)):
        assert np.array_equal(as_bool_mask(form, (6, 4)), mask)
    assert as_bool_mask(mask, (12, 8)).sum() == 4 * mask.sum()
