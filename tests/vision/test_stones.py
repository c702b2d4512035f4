"""Stone classifier head and stone boxes (no Django, no dataset, no network)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from jewel_vision.vision import attributes as A
from jewel_vision.vision.predictors.stones import (
    DEFAULT_STONE_HEAD_PATH,
    STONE_CLASSES,
    StoneClassifier,
    crop_to_item,
    save_stone_head,
)
from jewel_vision.vision.types import Detection, TagPrediction


@pytest.fixture(autouse=True)
def _media_root():
    """Shadows the Django-settings fixture of tests/conftest.py: nothing here needs Django."""


def ring_with_stones(stones=(("red", (200, 20, 40)),), bg=(250, 250, 248)):
    """A white-metal ring with round stones on top; returns image, item mask, {name: stone mask}."""
    img = Image.new("RGB", (320, 300), bg)
    d = ImageDraw.Draw(img)
    d.ellipse((80, 110, 240, 270), outline=(200, 200, 205), width=18)
    item = Image.new("L", img.size, 0)
    di = ImageDraw.Draw(item)
    di.ellipse((80, 110, 240, 270), outline=255, width=18)
    masks = {}
    for i, (name, colour) in enumerate(stones):
        cx = 160 + (i - (len(stones) - 1) / 2) * 70
        box = (cx - 24, 60, cx + 24, 108)
        if name == "pearl":
            for k in range(24, 0, -1):  # soft, round shading
                f = 0.8 + 0.2 * (1 - k / 24)
                d.ellipse((cx - k - (24 - k) // 3, 84 - k - (24 - k) // 3, cx + k - (24 - k) // 3, 84 + k - (24 - k) // 3),
                          fill=tuple(int(min(255, c * f)) for c in colour))
        else:
            d.ellipse(box, fill=colour)
        di.ellipse(box, fill=255)
        m = Image.new("L", img.size, 0)
        ImageDraw.Draw(m).ellipse(box, fill=255)
        masks[name] = np.asarray(m) > 127
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    return img, np.asarray(item) > 127, masks


# -- the committed head ---------------------------------------------------------------------------
def test_weights_are_small_and_versioned_by_file_hash():
    assert DEFAULT_STONE_HEAD_PATH.is_file(), "run: python -m jewel_vision.training.train_stones"
    assert DEFAULT_STONE_HEAD_PATH.stat().st_size < 1_000_000
    clf = StoneClassifier()
    digest = hashlib.sha256(DEFAULT_STONE_HEAD_PATH.read_bytes()).hexdigest()
    assert clf.version == digest[:12]
    assert not clf.loaded  # the version needs no load
    assert sorted(clf.classes) == sorted(STONE_CLASSES)
    assert clf.input_dim == 1280
    assert clf.embedder_name.startswith("effnet-lite0@")


def test_predict_proba_is_a_distribution():
    clf = StoneClassifier()
    x = np.random.default_rng(0).normal(size=(5, 1280)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = clf.predict_proba(x)
    assert p.shape == (5, 4)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    assert (p >= 0).all()
    with pytest.raises(ValueError):
        clf.predict_proba(np.zeros((2, 7), np.float32))


def test_predict_on_a_drawn_ring_loads_offline(no_network, embedder):
    img, item, _ = ring_with_stones()
    clf = StoneClassifier(embedder=embedder)
    tags = clf.predict(img, item)
    stone = [t for t in tags if t.facet == "stone"]
    assert [t.value for t in stone] and sorted(t.value for t in stone) == sorted(STONE_CLASSES)
    assert sum(t.confidence for t in stone) == pytest.approx(1.0, abs=1e-5)
    assert stone == sorted(stone, key=lambda t: -t.confidence)
    assert all(isinstance(t, TagPrediction) and t.model == "stones" and t.model_version == clf.version for t in tags)
    # the same with an embedding computed beforehand
    emb = clf.embed_item(img, item)
    again = clf.predict(img, item, embedding=emb)
    assert [(t.value, round(t.confidence, 5)) for t in again if t.facet == "stone"] == [
        (t.value, round(t.confidence, 5)) for t in stone
    ]


# -- plumbing with a head that always says "coloured" --------------------------------------------------
@pytest.fixture
def coloured_head(tmp_path):
    w = np.zeros((4, 1280), np.float32)
    b = np.array([0.0, 0.0, 0.0, 3.0], np.float32)
    path = tmp_path / "head.npz"
    version = save_stone_head(path, [(w, b)], list(STONE_CLASSES), "effnet-lite0@imagenet", {"test": True})
    return path, version


def test_stone_colour_comes_from_the_stone_region(coloured_head):
    path, version = coloured_head
    img, item, _ = ring_with_stones()
    clf = StoneClassifier(path)
    assert clf.version == version
    tags = clf.predict(img, item, embedding=np.ones(1280, np.float32) / np.sqrt(1280))
    assert tags[0].facet == "stone" and tags[0].value == "coloured"
    colour = [t for t in tags if t.facet == "stone_colour"]
    assert len(colour) == 1 and colour[0].value == "red"
    assert 0 < colour[0].confidence <= tags[0].confidence
    # regions passed in are used as they are
    regions = A.material_regions(img, item)
    tags2 = clf.predict(img, item, regions=regions, embedding=np.ones(1280, np.float32) / np.sqrt(1280))
    assert [t.value for t in tags2 if t.facet == "stone_colour"] == ["red"]


def test_coloured_stone_without_stone_pixels_is_doubted(coloured_head):
    """No stone region found by colour: half of the head's "coloured" belief moves to "none"."""
    path, _ = coloured_head
    img, item, _ = ring_with_stones()
    clf = StoneClassifier(path)
    emb = np.ones(1280, np.float32) / np.sqrt(1280)
    trusted = {t.value: t.confidence for t in clf.predict(img, item, embedding=emb) if t.facet == "stone"}
    metal_only = [r for r in A.material_regions(img, item) if r.label != "stone"]
    doubted = {t.value: t.confidence for t in clf.predict(img, item, regions=metal_only, embedding=emb) if t.facet == "stone"}
    assert doubted["coloured"] == pytest.approx(trusted["coloured"] / 2, rel=1e-5)
    assert doubted["none"] == pytest.approx(trusted["none"] + trusted["coloured"] / 2, rel=1e-5)
    assert sum(doubted.values()) == pytest.approx(1.0, abs=1e-5)


def test_wrong_head_file_is_rejected(tmp_path):
    path = tmp_path / "bad.npz"
    save_stone_head(path, [(np.zeros((3, 8), np.float32), np.zeros(3, np.float32))], ["a", "b", "c"], "x", {})
    with pytest.raises(ValueError):
        StoneClassifier(path).load()
    with pytest.raises(FileNotFoundError):
        StoneClassifier(tmp_path / "missing.npz").load()


# -- boxes ---------------------------------------------------------------------------------------------
def test_stone_boxes_label_and_place_each_stone():
    img, item, masks = ring_with_stones((("red", (200, 20, 40)), ("pearl", (245, 240, 230)), ("blue", (30, 60, 190))))
    union = masks["red"] | masks["pearl"] | masks["blue"]
    boxes = StoneClassifier(path="unused.npz").stone_boxes(img, union)
    assert len(boxes) == 3 and all(isinstance(b, Detection) for b in boxes)
    by_x = sorted(boxes, key=lambda b: b.box[0])
    assert [b.label for b in by_x] == ["coloured_gem", "pearl", "coloured_gem"]
    for det, name in zip(by_x, ["red", "pearl", "blue"]):
        ys, xs = np.nonzero(masks[name])
        w, h = img.size
        expected = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
        assert det.box == pytest.approx(expected, abs=0.01)
        assert 0 < det.score <= 1


def test_stone_boxes_from_png_and_regions():
    img, item, masks = ring_with_stones()
    regions = A.material_regions(img, item)
    stone = next(r for r in regions if r.label == "stone")
    boxes = StoneClassifier(path="unused.npz").stone_boxes(img, stone.mask_png)
    assert [b.label for b in boxes] == ["coloured_gem"]
    assert StoneClassifier(path="unused.npz").stone_boxes(img, np.zeros((300, 320), bool)) == []


def test_crop_to_item():
    img, item, _ = ring_with_stones()
    crop = crop_to_item(img, item)
    ys, xs = np.nonzero(item)
    assert crop.size[0] < img.size[0] and crop.size[0] >= xs.max() - xs.min() + 1
    assert crop_to_item(img, None) is img
