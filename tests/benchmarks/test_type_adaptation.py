"""benchmarks/type_adaptation.py's learning curve on drawn embeddings: folds by product, k examples, the base at k = 0."""

from __future__ import annotations

import numpy as np
import pytest

from ._scripts import load_script


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides the project-wide autouse fixture (no Django needed)."""
    yield


def _load():
    return load_script("type_adaptation")


def test_learning_curve_starts_at_the_base_head_and_learns_the_shop():
    bench = _load()
    rng = np.random.default_rng(0)
    classes = bench.CLASSES
    centres = rng.normal(size=(len(classes), 24))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat([classes.index("ring"), classes.index("earring")], 40)
    x = centres[y] + 0.25 * rng.normal(size=(len(y), 24))  # no two photos near-duplicates
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    groups = [f"p{i // 2}" for i in range(len(y))]  # two photos per product
    # a base head that calls every photo an earring
    w = np.zeros((len(classes), 24), np.float32)
    b = np.zeros(len(classes), np.float32)
    b[classes.index("earring")] = 5.0
    curve = bench.learning_curve(x, y, groups, [(w, b)], [0, 20], pull=0.0003)
    assert curve["0"]["accuracy"] == pytest.approx(0.5) and curve["0"]["labelled_photos_per_fold"] == [0] * 5
    assert curve["20"]["macro_f1"] > 0.9 and curve["20"]["labelled_photos_per_fold"] == [20] * 5
