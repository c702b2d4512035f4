"""Image preparation for reading stamps: high-pass on large photos, scaling to a short side."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from jewel_vision.vision.predictors.ocr_preprocess import highpass_normalise, scale_min_side


def test_large_photo_highpass_is_bounded_in_time():
    img = Image.fromarray((np.random.default_rng(0).random((1200, 1600, 3)) * 255).astype("uint8"))
    t = time.perf_counter()
    out = highpass_normalise(img)
    assert out.size == img.size and time.perf_counter() - t < 2.0


def test_scale_min_side_up_down_and_unchanged():
    small = Image.new("RGB", (100, 50))
    up, f = scale_min_side(small, 160, 1280)
    assert up.size == (320, 160) and f == pytest.approx(3.2)
    big, f = scale_min_side(Image.new("RGB", (4000, 1000)), 600, 1280)  # the long side binds
    assert big.size == (1280, 320) and f == pytest.approx(0.32)
    same, f = scale_min_side(Image.new("RGB", (300, 162)), 160, 1280)
    assert same.size == (300, 162) and f == 1.0
