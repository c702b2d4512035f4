"""TypeClassifier: a probability distribution over its classes, versioned, with thresholds."""

from __future__ import annotations

import re

import numpy as np
import pytest

from jewel_vision.vision.predictors.type_classifier import (
    DEFAULT_TYPE_HEAD_PATH,
    TypeClassifier,
    head_version,
    save_head,
)
from jewel_vision.vision.types import TagPrediction

CLASSES = ["bracelet", "earring", "necklace", "ring", "watch", "none"]
TYPES = CLASSES[:-1]  # "none" is never a tag


@pytest.fixture(scope="module")
def head():
    return TypeClassifier()


def _unit(rows: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(rows, 1280)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_shipped_weights_file():
    assert DEFAULT_TYPE_HEAD_PATH.is_file()
    assert DEFAULT_TYPE_HEAD_PATH.stat().st_size < 2_000_000


def test_metadata(head):
    assert head.classes == CLASSES
    assert re.fullmatch(r"[0-9a-f]{10}", head.version)
    assert head.full_name == f"type@{head.version}"
    assert head.embedder == "effnet-lite0@imagenet"
    assert head.input_dim == 1280
    assert set(head.thresholds) == set(CLASSES)
    assert all(0.5 <= head.thresholds[c] < 1.0 for c in TYPES)
    meta = head.metadata
    assert meta["validation"]["macro_f1_present"] > 0.8
    # every source was also measured with the head trained without it, and the test splits decide nothing
    assert set(meta["leave_one_source_out"]) == {"princesegzy01", "tanishq", "pcjeweller", "ring-hands", "people-parsing"}
    assert "decides nothing" in meta["decisions"]["test"]
    split = meta["split"]
    assert split["test_paths"] and split["validation_paths"]
    assert not set(split["test_paths"]) & set(split["validation_paths"])


def test_probabilities(head):
    probs = head.predict_proba(_unit(7))
    assert probs.shape == (7, len(CLASSES)) and probs.dtype == np.float32
    assert np.all(probs >= 0) and np.all(probs <= 1)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    one = head.predict_proba(_unit(7)[3])  # 1-D input is one row
    assert np.allclose(one[0], probs[3])


def test_predict_tags(head):
    x = _unit(3, seed=1)
    tags = head.predict(x)
    probs = head.predict_proba(x)
    assert len(tags) == 3
    for row, p in zip(tags, probs):
        assert [t.value for t in row] == [CLASSES[j] for j in np.argsort(-p, kind="stable") if CLASSES[j] != "none"]
        assert all(isinstance(t, TagPrediction) and t.facet == "type" for t in row)
        assert all(t.model == "type" and t.model_version == head.version for t in row)
        assert abs(sum(t.confidence for t in row) - (1.0 - p[-1])) < 1e-4
        assert row[0].confidence >= row[-1].confidence


def test_is_confident(head):
    t = head.thresholds["ring"]
    assert head.is_confident(TagPrediction("type", "ring", t, "type", head.version))
    assert not head.is_confident(TagPrediction("type", "ring", t - 0.01, "type", head.version))
    assert not head.is_confident(TagPrediction("type", "brooch", 0.99, "type", head.version))


def test_wrong_dimension(head):
    with pytest.raises(ValueError, match=r"\[N, 1280\]"):
        head.predict_proba(np.zeros((2, 512), np.float32))


def test_missing_file(tmp_path):
    head = TypeClassifier(tmp_path / "none.npz")
    assert not head.loaded
    with pytest.raises(FileNotFoundError, match="train_type"):
        head.predict_proba(_unit(1))


def test_save_and_load_round_trip_mlp(tmp_path):
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(8, 1280)).astype(np.float32), np.zeros(8, np.float32)),
              (rng.normal(size=(3, 8)).astype(np.float32), np.zeros(3, np.float32))]
    classes = ["a", "b", "c"]
    thr = np.array([0.6, 0.7, 0.8], np.float32)
    path = tmp_path / "head.npz"
    version = save_head(path, layers, classes, thr, "effnet-lite0@imagenet", {"note": "test"})
    assert version == head_version(layers, classes, thr)
    head = TypeClassifier(path)
    assert head.version == version and head.classes == classes and head.metadata == {"note": "test"}
    x = _unit(4)
    h = np.maximum(x @ layers[0][0].T, 0) @ layers[1][0].T
    expected = np.exp(h - h.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(head.predict_proba(x), expected, atol=1e-5)
    # the version is a content hash: same content, same version, in any process
    assert save_head(tmp_path / "again.npz", layers, classes, thr, "x", {}) == version


def _small_head(tmp_path, classes):
    rng = np.random.default_rng(1)
    layers = [(rng.normal(size=(len(classes), 1280)).astype(np.float32), np.zeros(len(classes), np.float32))]
    thr = np.linspace(0.55, 0.8, len(classes)).astype(np.float32)
    path = tmp_path / "head.npz"
    save_head(path, layers, classes, thr, "effnet-lite0@imagenet", {})
    return path, thr


def test_none_class_is_never_a_tag(tmp_path):
    path, _ = _small_head(tmp_path, ["earring", "ring", "none"])
    head = TypeClassifier(path)
    x = _unit(20, seed=3)
    probs = head.predict_proba(x)
    assert (probs.argmax(1) == 2).any()  # some rows are "none" at the top
    for row, p in zip(head.predict(x), probs):
        assert {t.value for t in row} == {"earring", "ring"}
        assert sum(t.confidence for t in row) == pytest.approx(1 - p[2], abs=1e-5)


def test_shop_merges_labels(tmp_path):
    path, thr = _small_head(tmp_path, ["pendant", "necklace", "ring"])
    x = _unit(5, seed=4)
    probs = TypeClassifier(path).predict_proba(x)
    merged = TypeClassifier(path, label_map={"pendant": "necklace"}).predict(x)
    for row, p in zip(merged, probs):
        by_value = {t.value: t for t in row}
        assert set(by_value) == {"necklace", "ring"}
        assert by_value["necklace"].confidence == pytest.approx(p[0] + p[1], abs=1e-5)
        assert by_value["necklace"].threshold == pytest.approx(max(thr[0], thr[1]))
        assert row[0].confidence >= row[1].confidence
