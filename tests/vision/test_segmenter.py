"""u2netp item segmentation on drawn pictures (no Django, no dataset, no download)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewel_vision.vision.predictors.segmenter import ItemSegmenter, bundled_u2netp_path


@pytest.fixture(autouse=True)
def _media_root():
    """Shadows the Django-settings fixture of tests/conftest.py: nothing here needs Django."""


@pytest.fixture(scope="module")
def segmenter():
    return ItemSegmenter(threads=2)


def _pendant(size=(360, 280), bg=(246, 246, 244)):
    """A shaded gold pendant on a chain stub, on a plain light background; returns image, true mask."""
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    w, h = size
    box = (w * 0.3, h * 0.22, w * 0.7, h * 0.85)
    for k in range(0, 40, 2):  # shading towards a highlight
        f = 0.65 + 0.5 * k / 40
        c = tuple(int(min(255, v * f)) for v in (212, 175, 55))
        d.ellipse((box[0] + k * 0.6, box[1] + k * 0.6, box[2] - k, box[3] - k), fill=c)
    d.ellipse((w * 0.45, h * 0.45, w * 0.55, h * 0.58), fill=(190, 20, 40))
    truth = Image.new("L", size, 0)
    ImageDraw.Draw(truth).ellipse(box, fill=255)
    return img, np.asarray(truth) > 127


def _ring(size=(300, 300), bg=(255, 255, 255)):
    """A white-metal ring with a blue stone. The true mask is the filled outline: u2netp
    (a salient-object model) fills the hole of a ring seen from the front, and the
    attribute rules drop the background-coloured hole pixels themselves."""
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    box = (70, 90, 230, 250)
    d.ellipse(box, outline=(200, 200, 205), width=22)
    d.ellipse((120, 40, 180, 100), fill=(30, 60, 190))
    truth = Image.new("L", size, 0)
    td = ImageDraw.Draw(truth)
    td.ellipse(box, fill=255)
    td.ellipse((120, 40, 180, 100), fill=255)
    return img, np.asarray(truth) > 127


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_version_is_the_file_hash_and_needs_no_session():
    seg = ItemSegmenter()
    version = seg.version
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert not seg.loaded
    assert seg.full_name == f"u2netp@{version}"
    assert bundled_u2netp_path().name == "u2netp.onnx"


def test_rembg_python_code_is_not_imported(segmenter):
    segmenter.segment([Image.new("RGB", (40, 30), "white")])
    assert "rembg" not in sys.modules
    assert not any(name.startswith("rembg.") for name in sys.modules)


def test_masks_have_the_image_size_and_range(segmenter):
    img1, _ = _pendant()
    img2 = Image.new("RGB", (123, 77), (250, 250, 250))
    masks = segmenter.segment([img1, img2])
    assert len(masks) == 2
    for img, mask in zip((img1, img2), masks):
        assert mask.shape == (img.size[1], img.size[0])
        assert mask.dtype == np.float32
        assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
    assert segmenter.loaded


@pytest.mark.parametrize("draw", [_pendant, _ring], ids=["pendant", "ring"])
def test_separates_a_drawn_object_from_a_plain_background(segmenter, draw):
    img, truth = draw()
    mask = segmenter.segment([img])[0]
    assert _iou(mask > 0.5, truth) > 0.6
    assert float(mask[truth].mean()) > float(mask[~truth].mean()) + 0.5


def test_batch_equals_single_and_is_deterministic(segmenter):
    img1, _ = _pendant()
    img2, _ = _ring()
    both = segmenter.segment([img1, img2])
    alone = segmenter.segment([img2])[0]
    np.testing.assert_allclose(both[1], alone, atol=1e-5)


def test_empty_input_and_odd_modes(segmenter):
    assert segmenter.segment([]) == []
    grey = Image.new("L", (64, 48), 128)
    black = Image.new("RGB", (50, 40), (0, 0, 0))  # max 0: rembg would divide by zero
    masks = segmenter.segment([grey, black])
    assert [m.shape for m in masks] == [(48, 64), (40, 50)]
    assert all(np.isfinite(m).all() for m in masks)


def test_missing_model_file_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError):
        ItemSegmenter(model_path=tmp_path / "nope.onnx")
