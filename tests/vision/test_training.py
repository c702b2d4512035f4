"""Training helpers: group-aware splits, augmentation, head training, metrics (no dataset needed)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from jewel_vision.training.common import (
    augment,
    cached_array,
    class_weights,
    confusion,
    embed_images,
    merge_near_duplicates,
    metrics,
    metrics_from_confusion,
    stratified_group_folds,
    stratified_group_split,
    train_head,
    write_report,
)
from jewel_vision.training.train_type import choose_thresholds
from jewel_vision.vision.predictors.embedding_head import head_proba


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]).tolist()
    groups = [f"g{i // 3}" for i in range(n)]  # groups of 3
    # make labels constant within a group
    labels = [labels[(i // 3) * 3] for i in range(n)]
    return labels, groups


def test_split_keeps_groups_together_and_stratifies():
    labels, groups = _data()
    tr, va = stratified_group_split(labels, groups, 0.2, seed=0)
    assert len(tr) + len(va) == len(labels) and not set(tr) & set(va)
    assert not {groups[i] for i in tr} & {groups[i] for i in va}
    for lab in "abc":
        total = sum(1 for x in labels if x == lab)
        in_val = sum(1 for i in va if labels[i] == lab)
        assert 0.1 * total <= in_val <= 0.35 * total
    tr2, va2 = stratified_group_split(labels, groups, 0.2, seed=0)
    assert np.array_equal(va, va2)  # reproducible
    _, va3 = stratified_group_split(labels, groups, 0.2, seed=1)
    assert not np.array_equal(va, va3)


def test_folds_keep_groups_together():
    labels, groups = _data()
    folds = stratified_group_folds(labels, groups, 5, seed=0)
    assert set(folds.tolist()) == set(range(5))
    for g in set(groups):
        assert len({int(folds[i]) for i in range(len(groups)) if groups[i] == g}) == 1


def test_folds_without_a_random_start_deal_each_class_from_fold_zero():
    labels = ["a"] * 4 + ["b"] * 2
    groups = ["g1", "g2", "g3", "g4", "h1", "h2"]
    folds = stratified_group_folds(labels, groups, 3, seed=0, random_start=False)
    assert sorted(folds[:4].tolist()) == [0, 0, 1, 2] and sorted(folds[4:].tolist()) == [0, 1]
    assert not np.array_equal(folds, stratified_group_folds(labels, groups, 3, seed=0))


def test_metrics_can_average_over_the_classes_present_only():
    y_true, y_pred = [0, 0, 1, 1], [0, 0, 1, 2]
    every = metrics(y_true, y_pred, ["a", "b", "c"])
    present = metrics(y_true, y_pred, ["a", "b", "c"], present_only=True)
    assert every["n"] == present["n"] == 4 and every["accuracy"] == present["accuracy"] == 0.75
    assert present["balanced_accuracy"] == 0.75 and every["balanced_accuracy"] == 0.5
    assert present["macro_f1"] > every["macro_f1"]


def test_cached_array_computes_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(3.0)

    a = cached_array(tmp_path, "kind", {"k": 1}, compute)
    b = cached_array(tmp_path, "kind", {"k": 1}, compute)
    assert np.array_equal(a, b) and len(calls) == 1
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == ["kind"]
    cached_array(tmp_path, "kind", {"k": 2}, compute)
    assert len(calls) == 2


def test_embed_images_in_chunks():
    class Sizes:
        dim = 2

        def embed(self, imgs):
            return np.array([[im.width, im.height] for im in imgs], np.float32)

    out = embed_images(Sizes(), lambda i: Image.new("RGB", (i + 1, 1)), 5, chunk=2)
    assert out[:, 0].tolist() == [1, 2, 3, 4, 5]
    assert embed_images(Sizes(), lambda i: Image.new("RGB", (1, 1)), 0).shape == (0, 2)


def test_merge_near_duplicates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 16)).astype(np.float32)
    x[3] = x[0] + 0.001
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    groups, links = merge_near_duplicates(["a", "b", "c", "d"], x, 0.99)
    assert links == 1 and groups[0] == groups[3] and len(set(groups)) == 3


def test_augment_is_deterministic_and_valid():
    img = Image.new("RGB", (120, 80), (200, 100, 50))
    a = augment(img, np.random.default_rng([0, 1, 2]))
    b = augment(img, np.random.default_rng([0, 1, 2]))
    assert a.mode == "RGB" and np.array_equal(np.asarray(a), np.asarray(b))
    assert a.width <= 120 and a.height <= 80


def test_train_head_and_metrics():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    y = rng.integers(0, 3, size=200)
    x = centres[y] + 0.3 * rng.normal(size=(200, 32))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    layers = train_head(x, y, 3, l2=1e-3, epochs=100, seed=0)
    probs = head_proba(layers, x)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    m = metrics_from_confusion(confusion(y, probs.argmax(1), 3), ["a", "b", "c"])
    assert m["accuracy"] > 0.95 and m["macro_f1"] > 0.95
    assert np.array_equal(layers[0][0], train_head(x, y, 3, l2=1e-3, epochs=100, seed=0)[0][0])
    thr, info = choose_thresholds(probs, y, ["a", "b", "c"], target=0.95)
    assert thr.shape == (3,) and all(0.5 <= t < 1 for t in thr)
    assert set(info) == {"a", "b", "c"}


def test_class_weights_balance():
    w = class_weights(np.array([0, 0, 0, 1]), 2)
    assert np.allclose(w, [4 / 6, 2.0])
    cm = confusion(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    assert cm.tolist() == [[1, 0], [1, 1]]


def test_stamp_gate_close_ups_and_threshold_groups():
    from jewel_vision.training.train_stamp_gate import _held_back, close_up
    from jewel_vision.vision.stamps import render_stamp

    stamp = render_stamp("S925", size_px=20, seed=3)
    a = close_up(stamp, np.random.default_rng(0))
    b = close_up(stamp, np.random.default_rng(0))
    assert a.mode == "RGB" and np.array_equal(np.asarray(a), np.asarray(b))  # seeded: reproducible
    assert a.width >= stamp.width and a.height >= stamp.height  # more context, never a smaller picture
    groups = [f"jt:{i}" for i in range(2000)]
    held = [g for g in groups if _held_back(g)]
    assert 0.15 < len(held) / len(groups) < 0.25 and held == [g for g in groups if _held_back(g)]


def test_write_report_makes_folders_and_keeps_unicode(tmp_path):
    path = tmp_path / "deep" / "report.json"
    write_report(path, {"mark": "足金", "n": 3})
    text = path.read_text(encoding="utf-8")
    assert "足金" in text and text.endswith("\n") and json.loads(text) == {"mark": "足金", "n": 3}
