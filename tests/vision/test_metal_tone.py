"""Metal-tone head machinery (``metal_tone.MetalToneHead``) and the rules fallback, on drawn pieces.

Nothing here reads a dataset: images are drawn and head files are written by the tests.
No head is shipped (the learned one lost to the rules out of source: ATTRIBUTES_CARD.md 3b),
so ``metal_tone`` must fall back to the rules, with no per-label threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.vision import colour, item_pixels
from jewel_vision.vision import metal_tone as A

from ._drawn_pieces import BLUE_VELVET, DARK_SKIN, PAPER, ROSE, SKIN, WHITE, YELLOW, draw_ring, loose, tone_of

CLASSES = ["yellow", "white", "rose"]


@pytest.fixture(autouse=True)
def _media_root():
    """Shadows the Django-settings fixture of tests/conftest.py: nothing here needs Django."""


def _write_head(path, thresholds=(0.6, 0.6, 0.9), kind="softmax", features=None):
    nf = len(A.TONE_FEATURES)
    W = np.zeros((nf, 3), np.float32)
    names = list(A.TONE_FEATURES)
    # a readable toy head: white when the metal is neutral, rose by the rules' rose logit
    W[names.index("m_c50"), 0] = 1.0
    W[names.index("m_c50"), 1] = -1.0
    W[names.index("r_rose"), 2] = 2.0
    np.savez(path, kind=np.array(kind), classes=np.array(CLASSES),
             features=np.array(features if features is not None else A.TONE_FEATURES),
             mean=np.zeros(nf, np.float32), std=np.ones(nf, np.float32), W=W,
             b=np.array([-8.0, 8.0, 0.0], np.float32),  # white while the metal's chroma is under 8
             thresholds=np.array(thresholds, np.float32))
    return path


def test_no_shipped_head_means_the_rules_without_thresholds():
    if item_pixels.DEFAULT_TONE_HEAD_PATH.is_file():
        pytest.skip("a head is shipped")
    img, item, _, _ = draw_ring(YELLOW, PAPER)
    tags = A.metal_tone(img, loose(item))
    assert tags[0].value == "yellow"
    assert all(t.model == item_pixels.ATTRIBUTES_MODEL and t.threshold is None for t in tags)
    assert item_pixels.ATTRIBUTES_VERSION == item_pixels._RULES_VERSION  # pipeline version unchanged without a head


def test_head_loads_predicts_and_carries_thresholds(tmp_path):
    head = A.MetalToneHead(_write_head(tmp_path / "h.npz"))
    img, item, _, _ = draw_ring(WHITE, PAPER)
    x = A.metal_tone_vector(img, loose(item))
    assert x.shape == (len(A.TONE_FEATURES),) and np.isfinite(x).all()
    tags = head.tags(x)
    assert sorted(t.value for t in tags) == sorted(CLASSES)
    assert sum(t.confidence for t in tags) == pytest.approx(1.0, abs=1e-6)
    assert tags[0].value == "white"
    assert {t.value: t.threshold for t in tags} == pytest.approx({"yellow": 0.6, "white": 0.6, "rose": 0.9})
    assert all(t.model == A.TONE_HEAD_MODEL and t.model_version == head.version for t in tags)


def test_head_version_follows_the_file_content(tmp_path):
    a = A.MetalToneHead(_write_head(tmp_path / "a.npz"))
    b = A.MetalToneHead(_write_head(tmp_path / "b.npz"))
    c = A.MetalToneHead(_write_head(tmp_path / "c.npz", thresholds=(0.6, 0.6, 0.95)))
    assert a.version == b.version != c.version
    assert len(a.version) == 12


def test_a_head_with_other_features_is_refused(tmp_path):
    bad = _write_head(tmp_path / "bad.npz", features=list(A.TONE_FEATURES)[::-1])
    with pytest.raises(ValueError, match="features"):
        A.MetalToneHead(bad).load()


def test_rules_kind_head_reproduces_the_rules_probabilities(tmp_path):
    head = A.MetalToneHead(_write_head(tmp_path / "r.npz", kind="rules"))
    for metal in (YELLOW, WHITE, ROSE):
        img, item, _, _ = draw_ring(metal, PAPER)
        prep = item_pixels.prepare(img, loose(item))
        metal_mask = item_pixels.split_metal_stone(prep)[0]
        rules = A.tone_probs(A.metal_features(prep, metal_mask))
        p = head.predict_proba(A.tone_vector(prep, metal_mask))[0]
        assert dict(zip(CLASSES, p)) == pytest.approx(rules, abs=2e-3)


def test_scene_white_balance_takes_a_cast_off_the_metal():
    from PIL import Image

    img, item, _, _ = draw_ring(WHITE, PAPER)
    warm = Image.fromarray(np.clip(np.asarray(img, np.float32) * [1.06, 1.0, 0.86], 0, 255).astype(np.uint8))
    prep = item_pixels.prepare(warm, loose(item))
    metal = item_pixels.split_metal_stone(prep)[0]
    wb = A._scene_white_balance(prep, colour.rgb_to_lab(prep.rgb), metal)
    assert wb["bg_neutral"] > 0.5 and wb["wb_b"] > 5  # the cast is measured on the background
    x = dict(zip(A.TONE_FEATURES, A.tone_vector(prep, metal)))
    assert x["raw_b50"] > 8 and abs(x["m_b50"]) < 0.6 * x["raw_b50"]  # and (mostly) taken off the metal


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
