"""Jewelry item type from an image embedding (facet "type").

A :class:`~jewel_vision.vision.predictors.embedding_head.ThresholdedHead` trained by
``python -m jewel_vision.training.train_type`` (written with
:func:`~jewel_vision.vision.predictors.embedding_head.save_head`). Its weights file
(``.npz``, no pickles) holds::

    n_layers            int, number of affine layers (1 = linear softmax)
    W0, b0, ... Wk, bk  float32 layer weights [out, in] and biases [out]
    classes             str[C]   class names, in output order
    thresholds          float32[C] per-class confidence thresholds (see is_confident)
    version             str      "<10 hex>", a hash of the weights, classes and thresholds
    embedder            str      embedder the head was trained on, e.g. "effnet-lite0@imagenet"
    metadata            str      JSON: training data, split and validation metrics
"""

from __future__ import annotations

import os
from pathlib import Path

from .embedding_head import ThresholdedHead

__all__ = ["ADAPTED_TYPE_FILE", "DEFAULT_TYPE_HEAD_PATH", "TypeClassifier"]

DEFAULT_TYPE_HEAD_PATH = Path(__file__).resolve().parent.parent / "weights" / "type_head.npz"
#: A shop's adaptation of the type head, in the pipeline's ``facet_heads_dir``; it replaces the built-in head.
ADAPTED_TYPE_FILE = "type.npz"


class TypeClassifier(ThresholdedHead):
    """Predicts the item type (earring, bracelet, necklace, ring, watch, ...)."""

    name = "type"
    kind = "type head"
    trained_by = "python -m jewel_vision.training.train_type"
    facet = "type"

    def __init__(
        self, path: str | os.PathLike[str] | None = None, device: str = "auto", label_map: dict[str, str] | None = None
    ) -> None:
        super().__init__(path if path is not None else DEFAULT_TYPE_HEAD_PATH, device=device, label_map=label_map)
