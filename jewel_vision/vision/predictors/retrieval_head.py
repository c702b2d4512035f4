"""A projection head for same-product retrieval: embedding (1280-d) -> L2-normalised [dim].

Weights file (``.npz``, no pickles): ``W`` [dim, in], ``b`` [dim], ``embedder`` (str: the
embedder the head was trained on), ``metadata`` (JSON). Trained by
``jewel_vision.training.train_retrieval``; see ``weights/RETRIEVAL_CARD.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

__all__ = ["RetrievalHead", "save_retrieval_head"]


def _version(weight: np.ndarray, bias: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(weight, dtype="<f4").tobytes())
    digest.update(np.ascontiguousarray(bias, dtype="<f4").tobytes())
    return digest.hexdigest()[:10]


def save_retrieval_head(path: str | os.PathLike[str], weight: np.ndarray, bias: np.ndarray, embedder: str,
                        metadata: dict[str, Any]) -> str:
    """Write a head file; returns its version."""
    weight = np.asarray(weight, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    np.savez(path, W=weight, b=bias, embedder=np.asarray(embedder),
             metadata=np.asarray(json.dumps(metadata, sort_keys=True, default=str)))
    return _version(weight, bias)


class RetrievalHead:
    """Loads eagerly (a few hundred KB); ``project`` is NumPy only."""

    name = "retrieval"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        with np.load(self.path, allow_pickle=False) as z:
            self.weight = np.asarray(z["W"], dtype=np.float32)
            self.bias = np.asarray(z["b"], dtype=np.float32)
            self.embedder_name = str(z["embedder"])
            self.metadata = json.loads(str(z["metadata"])) if "metadata" in z else {}
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"{self.path}: W must be [dim, in] and b [dim]")
        self.version = _version(self.weight, self.bias)

    @property
    def dim(self) -> int:
        return int(self.weight.shape[0])

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """[N, in] -> [N, dim] float32, each row L2-normalised."""
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        out = x @ self.weight.T + self.bias
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32, copy=False)
