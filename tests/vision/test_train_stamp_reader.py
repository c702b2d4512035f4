"""Training data of the stamp recogniser: labels per detected line, crops cut the reader's way."""

from __future__ import annotations

import numpy as np
import pytest

from PIL import Image, ImageDraw

from jewel_vision.training.train_stamp_reader import _seeds, line_labels, load_crops, render_crops, slant_stretch


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


def test_line_labels_whole_text_word_per_line_or_nothing():
    assert line_labels("18K 750", 1) == ["18K 750"]
    assert line_labels("18K 750", 2) == ["18K", "750"]
    assert line_labels("18K 750", 3) is None
    assert line_labels("S925", 2) is None
    assert _seeds("21-23,30") == [21, 22, 23, 30]


def test_render_crops_are_grey_lines_with_labels_and_cache_round_trips(tmp_path):
    arrays = render_crops(31, 4)
    n = len(arrays["labels"])
    assert n >= 3 and arrays["tiny"].shape == (n,)
    for i in range(n):
        hp, raw = arrays[f"hp{i}"], arrays[f"raw{i}"]
        assert hp.ndim == 2 and hp.shape == raw.shape and hp.shape[1] > hp.shape[0]  # a line: wider than tall
    crops = load_crops([31], 4, tmp_path, processes=1)
    assert [c["label"] for c in crops] == list(arrays["labels"])
    assert np.array_equal(np.asarray(crops[0]["hp"]), arrays["hp0"])


def test_slant_stretch_keeps_the_whole_line_in_frame():
    """Slanted either way and stretched or squeezed, no ink of the line is cut off."""
    crop = Image.new("L", (120, 30), 200)
    ImageDraw.Draw(crop).rectangle((2, 4, 117, 25), fill=10)  # ink from edge to edge
    ink = (np.asarray(crop) < 100).sum()
    rng = np.random.default_rng(3)
    slants = set()
    for _ in range(20):
        out = slant_stretch(crop, rng)
        a = np.asarray(out)
        assert out.mode == "L" and out.height == 30
        # a shear keeps the area; the stretch is 0.75-1.3: the ink scales with it and none is cut off
        assert 0.7 * ink < (a < 100).sum() < 1.4 * ink
        # leftmost ink of the top and bottom rows differ when slanted
        top, bottom = np.flatnonzero(a[5] < 100), np.flatnonzero(a[24] < 100)
        assert top.size and bottom.size
        slants.add(int(np.sign(bottom[0] - top[0])))
    assert {-1, 1} <= slants
