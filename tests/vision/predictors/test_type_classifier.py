"""TypeClassifier: a probability distribution over its classes, versioned, with thresholds."""

from __future__ import annotations

import re

import numpy as np
import pytest

from jewel_vision.vision.predictors.type_classifier import DEFAULT_TYPE_HEAD_PATH, TypeClassifier
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
    assert head.embedder_name == "effnet-lite0@imagenet"
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
