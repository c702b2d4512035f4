"""benchmarks/tone_adaptation.py's learning curve on drawn features: the rules at k = 0, the shop's photos learnt."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.vision import metal_tone

from ._scripts import load_script


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides the project-wide autouse fixture (no Django needed)."""
    yield


def test_learning_curve_starts_at_the_rules_and_learns_the_shop_cast():
    bench = load_script("tone_adaptation")
    rng = np.random.default_rng(0)
    names = list(metal_tone.TONE_FEATURES)
    c50 = names.index("m_c50")
    n_other, n_shop = 120, 60
    y_other = rng.integers(0, 2, n_other)  # yellow / white elsewhere: chroma tells them apart
    y_shop = np.repeat([0, 1], n_shop // 2)
    X = rng.normal(0, 0.3, (n_other + n_shop, len(names)))
    y = np.concatenate([y_other, y_shop])
    X[:, c50] = np.where(y == 0, 20.0, 5.0) + rng.normal(0, 1, len(y))
    X[n_other:, c50] += 10.0  # the new shop's warm light: its white pieces look as chromatic as yellow ones elsewhere
    src = np.array(["a"] * n_other + ["shop"] * n_shop)
    groups = [f"g{i}" for i in range(len(y))]
    rules = np.where(X[:, c50] > 12.0, 0, 1)  # a fixed chroma rule: the shop's whites come out yellow
    setting = {"features": "rules+colour", "l2": 0.1, "shop_weight": 4.0}
    curve = bench.learning_curve(X, y, src, groups, rules, "shop", [0, 20], setting)
    assert curve["0"]["accuracy"] == pytest.approx(0.5) and curve["0"]["labelled_photos_per_fold"] == [0] * 5
    assert curve["20"]["accuracy"] > 0.9 and curve["20"]["labelled_photos_per_fold"] == [20] * 5
    assert sum(map(sum, curve["20"]["confusion"]["matrix"])) == n_shop  # every shop photo scored once
