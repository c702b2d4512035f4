"""A small head on an image embedding: the base of the type, stone, stamp-gate and facet heads.

A head is a softmax regression, optionally with hidden ReLU layers, on an embedding from
:class:`~jewel_vision.vision.predictors.embedder.Embedder`. It runs in NumPy: a few
thousand multiply-adds are not worth a device transfer.

Every head's weights file (``.npz``, no pickles) holds at least::

    n_layers            int, number of affine layers (1 = linear softmax)
    W0, b0, ... Wk, bk  layer weights [out, in] and biases [out] (read as float32)
    classes             str[C]   class names, in output order
    embedder            str      embedder the head was trained on, e.g. "effnet-lite0@imagenet"
    metadata            str      JSON: training data, split and validation metrics (optional)

Subclasses add what their format holds beyond that and say how the head is versioned:
:class:`ThresholdedHead` (the type head, the stamp gate, the facet heads a shop teaches:
per-class ``thresholds`` and a ``version`` hash, written by :func:`save_head`) or the
stone head (``vision/predictors/stones.py``).
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

__all__ = ["EmbeddingHead", "ThresholdedHead", "head_proba", "head_version", "save_head"]

Layers = list[tuple[np.ndarray, np.ndarray]]


def hidden_features(layers: Layers, embeddings: np.ndarray) -> np.ndarray:
    """What a head's last layer sees: the embeddings [N, D] through its hidden ReLU layers."""
    h = np.asarray(embeddings, dtype=np.float32)
    if h.ndim == 1:
        h = h[None, :]
    for weight, bias in layers[:-1]:
        h = np.maximum(h @ weight.T + bias, 0.0)
    return h


def head_proba(layers: Layers, embeddings: np.ndarray) -> np.ndarray:
    """The forward pass of a head: class probabilities [N, C] (float32, rows sum to 1)."""
    weight, bias = layers[-1]
    logits = (hidden_features(layers, embeddings) @ weight.T + bias).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits.astype(np.float32)


def head_version(layers: Layers, classes: list[str], thresholds: np.ndarray) -> str:
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
    layers: Layers,
    classes: list[str],
    thresholds: np.ndarray,
    embedder: str,
    metadata: dict[str, Any],
) -> str:
    """Write a :class:`ThresholdedHead` file; returns its version."""
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside it, then renamed over it: a worker re-reading heads (facet_heads_dir, an adapted
    # type.npz) never loads a half-written file; the temporary name does not end in .npz
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return version


class EmbeddingHead(LazyLoadMixin):
    """A head loaded from an ``.npz`` file on first use; ``predict_proba(embeddings)`` -> [N, C].

    Subclasses set ``name`` (the model name in tags and versions), ``kind`` (the head's
    name in messages) and ``trained_by`` (the command that writes its weights), and
    define ``version``.
    """

    name = "head"
    kind = "head"
    trained_by = ""

    def __init__(self, path: str | os.PathLike[str], device: str = "auto") -> None:
        self._init_lazy()
        self.path = Path(path)
        self._device_setting = device  # kept for a uniform interface; the head runs in NumPy
        self.device = "cpu"
        self._layers: Layers = []
        self._classes: list[str] = []
        self._embedder_name = ""
        self._metadata: dict[str, Any] = {}

    def _missing_message(self) -> str:
        return f"{self.kind} weights not found: {self.path} (train them with: {self.trained_by})"

    def _load(self) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(self._missing_message())
        with np.load(self.path, allow_pickle=False) as data:
            layers = [
                (data[f"W{i}"].astype(np.float32), data[f"b{i}"].astype(np.float32))
                for i in range(int(data["n_layers"]))
            ]
            classes = [str(c) for c in data["classes"]]
            if not layers or layers[-1][0].shape[0] != len(classes):
                raise ValueError(f"corrupt {self.kind} {self.path}: output size does not match {len(classes)} classes")
            self._load_extra(data, classes)
            self._embedder_name = str(data["embedder"])
            self._metadata = json.loads(str(data["metadata"])) if "metadata" in data else {}
        self._layers, self._classes = layers, classes

    def _load_extra(self, data: Any, classes: list[str]) -> None:
        """Read and check what this head's format holds beyond the common fields."""

    # -- metadata (loads the small weights file on first access) -------------------------
    @property
    def version(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def classes(self) -> list[str]:
        self.load()
        return list(self._classes)

    @property
    def embedder_name(self) -> str:
        """The embedder (``name@version``) this head expects its inputs from."""
        self.load()
        return self._embedder_name

    @property
    def layers(self) -> Layers:
        """The affine layers (W [out, in], b [out]), first to last: a copy to adapt or to save."""
        self.load()
        return [(w.copy(), b.copy()) for w, b in self._layers]

    @property
    def input_dim(self) -> int:
        self.load()
        return int(self._layers[0][0].shape[1])

    @property
    def metadata(self) -> dict[str, Any]:
        self.load()
        return dict(self._metadata)

    # -- inference -----------------------------------------------------------------------
    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities [N, C] (rows sum to 1), columns in ``classes`` order."""
        self.load()
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"expected embeddings of shape [N, {self.input_dim}], got {tuple(x.shape)}")
        return head_proba(self._layers, x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r})"


class ThresholdedHead(EmbeddingHead):
    """A head whose file also holds per-class ``thresholds`` and its ``version`` (:func:`save_head`).

    The type head, the stamp gate and the facet heads a shop teaches. ``predict`` gives
    facet ``facet`` tags, each with its class's threshold.
    """

    facet = ""
    ABSTAIN_CLASS = "none"

    def __init__(
        self, path: str | os.PathLike[str], device: str = "auto", label_map: dict[str, str] | None = None
    ) -> None:
        super().__init__(path, device=device)
        # A shop's merges (e.g. pendant -> necklace): the merged classes' probabilities add up.
        self.label_map = dict(label_map or {})
        self._thresholds: np.ndarray = np.zeros(0, dtype=np.float32)
        self._version = ""

    def _load_extra(self, data: Any, classes: list[str]) -> None:
        thresholds = data["thresholds"].astype(np.float32)
        if thresholds.shape != (len(classes),):
            raise ValueError(f"corrupt {self.kind} {self.path}: thresholds do not match {len(classes)} classes")
        self._thresholds, self._version = thresholds, str(data["version"])

    @property
    def version(self) -> str:
        """The hash stored in the file (:func:`head_version`)."""
        self.load()
        return self._version

    @property
    def thresholds(self) -> dict[str, float]:
        """Per-class confidence at or above which a top prediction may be applied without review."""
        self.load()
        return {c: float(t) for c, t in zip(self._classes, self._thresholds)}

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

