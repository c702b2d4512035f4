"""The stone head's data helpers on drawn images: the loose stone's mask, background swaps, jitter."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from jewel_vision.training.stone_data import border_mask, full_mask, jitter, swap_background


def _loose_stone() -> tuple[Image.Image, np.ndarray]:
    img = Image.new("RGB", (120, 100), (10, 10, 12))
    ImageDraw.Draw(img).ellipse((35, 25, 85, 75), fill=(30, 90, 200))
    truth = np.zeros((100, 120), bool)
    yy, xx = np.mgrid[0:100, 0:120]
    truth[((xx - 60) / 25) ** 2 + ((yy - 50) / 25) ** 2 <= 1] = True
    return img, truth


def test_border_mask_finds_the_stone_on_a_plain_background():
    img, truth = _loose_stone()
    mask = border_mask(img)
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9


def test_swap_background_keeps_the_stone_and_changes_the_rest():
    img, truth = _loose_stone()
    out = np.asarray(swap_background(img, random.Random(0)))
    inner = truth.copy()
    inner[:, :45] = inner[:, 75:] = False  # away from the blurred edge
    assert np.abs(out[inner].astype(int) - np.asarray(img)[inner]).max() < 30
    assert out.shape == (100, 120, 3)


def test_jitter_and_full_mask_sizes():
    img, _ = _loose_stone()
    j = jitter(img, random.Random(1))
    assert 96 <= j.width <= 120 and 80 <= j.height <= 100
    small = np.zeros((256, 256), np.uint8)
    small[64:192, 64:192] = 255
    big = full_mask(small, (512, 400))
    assert big.shape == (400, 512) and abs(big.mean() - 0.25) < 0.02
