"""Jewelry item type from an image embedding (facet "type").

A small head (softmax regression, optionally with hidden ReLU layers) trained
by ``python -m jewel_vision.training.train_type`` on embeddings from
:class:`~jewel_vision.vision.predictors.embedder.Embedder`. It runs in NumPy: the
head is a few thousand multiply-adds, not worth a device transfer.

The weights file (``.npz``, no pickles) holds::

    n_layers            int, number of affine layers (1 = linear softmax)
    W0, b0, ... Wk, bk  float32 layer weights [out, in] and biases [out]
    classes             str[C]   class names, in output order
    thresholds          float32[C] per-class confidence thresholds (see is_confident)
    version             str      "<10 hex>", a hash of the weights, classes and thresholds
    embedder            str      embedder the head was trained on, e.g. "effnet-lite0@imagenet"
    metadata            str      JSON: training data, split and validation metrics
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..types import TagPrediction
from ._common import LazyLoadMixin

__all__ = ["DEFAULT_TYPE_HEAD_PATH", "TypeClassifier", "head_version", "save_head"]

DEFAULT_TYPE_HEAD_PATH = Path(__file__).resolve().parent.parent / "weights" / "type_head.npz"


def head_version(layers: list[tuple[np.ndarray, np.ndarray]], classes: list[str], thresholds: np.ndarray) -> str:
    """Content hash of a head (stable across processes and machines)."""
    digest = hashlib.sha256()
    for weight, bias in layers:
        digest.update(np.ascontiguousarray(weight, dtype="<f4").tobytes())
        digest.update(np.ascontiguousarray(bias, dtype="<f4").tobytes())
    digest.update("\x00".join(classes).encode("utf-8"))
    digest.update(np.ascontiguousarray(thresholds, dtype="<f4").tobytes())
    return digest.hexdigest()[:10]


def save_head(
    path: str | os.PathLike[str],
    layers: list[tuple[np.ndarray, np.ndarray]],
    classes: list[str],
    thresholds: np.ndarray,
    embedder: str,
    metadata: dict[str, Any],
) -> str:
    """Write a head file; returns its version."""
    layers = [(np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)) for w, b in layers]
    thresholds = np.asarray(thresholds, dtype=np.float32)
    version = head_version(layers, classes, thresholds)
    arrays: dict[str, np.ndarray] = {
        "n_layers": np.asarray(len(layers), dtype=np.int64),
        "classes": np.asarray(classes, dtype=np.str_),
        "thresholds": thresholds,
        "version": np.asarray(version, dtype=np.str_),
        "embedder": np.asarray(embedder, dtype=np.str_),
        "metadata": np.asarray(json.dumps(metadata, sort_keys=True), dtype=np.str_),
    }
    for i, (weight, bias) in enumerate(layers):
        arrays[f"W{i}"] = weight
        arrays[f"b{i}"] = bias
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return version


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


class TypeClassifier(LazyLoadMixin):
    """Predicts the item type (earring, bracelet, necklace, ring, watch, ...)."""

    name = "type"
    facet = "type"
    ABSTAIN_CLASS = "none"

    def __init__(
        self, path: str | os.PathLike[str] | None = None, device: str = "auto", label_map: dict[str, str] | None = None
    ) -> None:
        self._init_lazy()
        self.path = Path(path) if path is not None else DEFAULT_TYPE_HEAD_PATH
        # A shop's merges (e.g. pendant -> necklace): the merged classes' probabilities add up.
        self.label_map = dict(label_map or {})
        self._device_setting = device  # kept for a uniform interface; the head runs in NumPy
        self.device = "cpu"
        self._layers: list[tuple[np.ndarray, np.ndarray]] = []
        self._classes: list[str] = []
        self._thresholds: np.ndarray = np.zeros(0, dtype=np.float32)
        self._version = ""
        self._embedder = ""
        self._metadata: dict[str, Any] = {}

    def _load(self) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(
                f"type head weights not found: {self.path} "
                "(train them with: python -m jewel_vision.training.train_type)"
            )
        with np.load(self.path, allow_pickle=False) as data:
            n_layers = int(data["n_layers"])
            layers = [
                (data[f"W{i}"].astype(np.float32), data[f"b{i}"].astype(np.float32)) for i in range(n_layers)
            ]
            classes = [str(c) for c in data["classes"]]
            thresholds = data["thresholds"].astype(np.float32)
            version = str(data["version"])
            embedder = str(data["embedder"])
            metadata = json.loads(str(data["metadata"])) if "metadata" in data else {}
        if layers[-1][0].shape[0] != len(classes) or thresholds.shape != (len(classes),):
            raise ValueError(f"corrupt type head {self.path}: shapes do not match {len(classes)} classes")
        self._layers, self._classes, self._thresholds = layers, classes, thresholds
        self._version, self._embedder, self._metadata = version, embedder, metadata

    # -- metadata (loads the small weights file on first access) -------------------------
    @property
    def version(self) -> str:
        self.load()
        return self._version

    @property
    def classes(self) -> list[str]:
        self.load()
        return list(self._classes)

    @property
    def thresholds(self) -> dict[str, float]:
        """Per-class confidence at or above which a top prediction may be applied without review."""
        self.load()
        return {c: float(t) for c, t in zip(self._classes, self._thresholds)}

    @property
    def embedder(self) -> str:
        """The embedder (``name@version``) this head expects its inputs from."""
        self.load()
        return self._embedder

    @property
    def input_dim(self) -> int:
        self.load()
        return int(self._layers[0][0].shape[1])

    @property
    def metadata(self) -> dict[str, Any]:
        self.load()
        return dict(self._metadata)

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    # -- inference -----------------------------------------------------------------------
    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities [N, C] (rows sum to 1), columns in ``classes`` order."""
        self.load()
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"expected embeddings of shape [N, {self.input_dim}], got {tuple(x.shape)}")
        h = x
        last = len(self._layers) - 1
        for i, (weight, bias) in enumerate(self._layers):
            h = h @ weight.T + bias
            if i < last:
                np.maximum(h, 0.0, out=h)
        return _softmax(h.astype(np.float64)).astype(np.float32)

    def predict(self, embeddings: np.ndarray) -> list[list[TagPrediction]]:
        """One list per embedding with a TagPrediction per class, most probable first.

        A class named ``ABSTAIN_CLASS`` ("none": no jewelry of a known type in view) is
        never a tag: its probability is left out, so the other classes keep theirs and a
        photo the head calls "none" has only low-confidence tags, which wait for review.
        """
        probs = self.predict_proba(embeddings)
        version = self._version
        classes, thresholds = self._classes, self._thresholds
        if self.label_map:
            probs, classes, thresholds = self._merged(probs)
        keep = np.array([c != self.ABSTAIN_CLASS for c in classes])
        out: list[list[TagPrediction]] = []
        for row in probs:
            order = [j for j in np.argsort(-row, kind="stable") if keep[j]]
            out.append(
                [
                    TagPrediction(
                        facet=self.facet,
                        value=classes[j],
                        confidence=float(row[j]),
                        model=self.name,
                        model_version=version,
                        threshold=float(thresholds[j]),
                    )
                    for j in order
                ]
            )
        return out

    def _merged(self, probs: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Probabilities, classes and thresholds after the shop's merges; a merged class
        keeps the strictest threshold of the classes it holds."""
        targets = [self.label_map.get(c, c) for c in self._classes]
        merged = sorted(set(targets), key=targets.index)
        out = np.zeros((len(probs), len(merged)), np.float32)
        thr = np.zeros(len(merged), np.float32)
        for j, t in enumerate(targets):
            k = merged.index(t)
            out[:, k] += probs[:, j]
            thr[k] = max(thr[k], self._thresholds[j])
        return out, merged, thr

    def is_confident(self, tag: TagPrediction) -> bool:
        """Whether ``tag`` reaches its class's validated threshold (meant for the top prediction)."""
        threshold = self.thresholds.get(tag.value)
        return threshold is not None and tag.confidence >= threshold

    def __repr__(self) -> str:
        return f"TypeClassifier(path={str(self.path)!r})"
