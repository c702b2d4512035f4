"""EmbeddingHead and ThresholdedHead: the one forward pass and file format of the heads on an embedding."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.vision.predictors.embedding_head import ThresholdedHead, head_proba, head_version, save_head
from jewel_vision.vision.predictors.stamp_gate import StampGate
from jewel_vision.vision.predictors.stones import StoneClassifier
from jewel_vision.vision.predictors.type_classifier import TypeClassifier


def _unit(rows: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(rows, 1280)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("head", [TypeClassifier(), StampGate(), StoneClassifier()], ids=repr)
def test_shipped_heads_share_the_forward_pass(head):
    x = _unit(5, seed=2)
    probs = head.predict_proba(x)
    assert probs.dtype == np.float32 and probs.shape == (5, len(head.classes))
    assert np.array_equal(probs, head_proba(head._layers, x))
    assert head.embedder_name.startswith("effnet-lite0@")
    assert head.full_name == f"{head.name}@{head.version}"


@pytest.mark.parametrize("cls, command", [(TypeClassifier, "train_type"), (StampGate, "train_stamp_gate"),
                                          (StoneClassifier, "train_stones")])
def test_missing_file_names_the_training_command(tmp_path, cls, command):
    head = cls(tmp_path / "none.npz")
    with pytest.raises(FileNotFoundError, match=command):
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
    head = ThresholdedHead(path)
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
    head = ThresholdedHead(path)
    x = _unit(20, seed=3)
    probs = head.predict_proba(x)
    assert (probs.argmax(1) == 2).any()  # some rows are "none" at the top
    for row, p in zip(head.predict(x), probs):
        assert {t.value for t in row} == {"earring", "ring"}
        assert sum(t.confidence for t in row) == pytest.approx(1 - p[2], abs=1e-5)


def test_shop_merges_labels(tmp_path):
    path, thr = _small_head(tmp_path, ["pendant", "necklace", "ring"])
    x = _unit(5, seed=4)
    probs = ThresholdedHead(path).predict_proba(x)
    merged = ThresholdedHead(path, label_map={"pendant": "necklace"}).predict(x)
    for row, p in zip(merged, probs):
        by_value = {t.value: t for t in row}
        assert set(by_value) == {"necklace", "ring"}
        assert by_value["necklace"].confidence == pytest.approx(p[0] + p[1], abs=1e-5)
        assert by_value["necklace"].threshold == pytest.approx(max(thr[0], thr[1]))
        assert row[0].confidence >= row[1].confidence


def test_a_head_file_is_replaced_whole(tmp_path, monkeypatch):
    """Workers re-read heads while they run: save_head renames a finished file over the old one."""
    import os

    layers = [(np.eye(3, 4, dtype=np.float32), np.zeros(3, np.float32))]
    path = tmp_path / "heads" / "style.npz"
    first = save_head(path, layers, ["a", "b", "c"], np.full(3, 0.5, np.float32), "emb@1", {})
    renames = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: renames.append((str(src), str(dst))) or real(src, dst))
    layers[0][1][0] = 1.0
    second = save_head(path, layers, ["a", "b", "c"], np.full(3, 0.5, np.float32), "emb@1", {})
    assert len(renames) == 1 and renames[0][1] == str(path) and not renames[0][0].endswith(".npz")
    assert second != first and ThresholdedHead(path).version == second
    assert sorted(p.name for p in path.parent.iterdir()) == ["style.npz"]  # no temporary file left
