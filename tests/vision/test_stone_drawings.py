"""Drawn pieces for the stone head: masks that match the drawing, and a reproducible set."""

from __future__ import annotations

import random

import numpy as np

from jewel_vision.training.stone_drawings import draw_piece, synthetic_training_set


def test_a_drawn_piece_has_metal_and_stone_masks_inside_its_item_mask():
    img, item, metal, stone = draw_piece("yellow", "white", random.Random(0), size=128, stone="red", kind="ring")
    assert img.size == (128, 128) and item.shape == (128, 128)
    assert metal.any() and stone.any() and not (metal & stone).any()
    assert np.array_equal(item, metal | stone)
    red = np.asarray(img)[stone]
    assert np.median(red[:, 0]) > 150 and np.median(red[:, 1]) < 80


def test_the_synthetic_set_is_reproducible_and_balanced():
    imgs, labels = synthetic_training_set(2, seed=5)
    again, _ = synthetic_training_set(2, seed=5)
    assert labels == ["none"] * 2 + ["diamond"] * 2 + ["pearl"] * 2 + ["coloured"] * 2
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(imgs, again))
