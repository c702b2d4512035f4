"""Is this photo a close-up of a stamp? A two-class head on the photo's embedding.

The pipeline already embeds every photo, so this costs nothing; it decides where OCR
runs (see :meth:`jewel_vision.vision.predictors.hallmark_reader.HallmarkReader.read`):

* ``p(stamp) < low``: not read at all (product photos, worn jewelry);
* ``p(stamp) >= high``: read, even where the text-detector gate sees no text line;
* in between: read only when the text-detector gate passes.

Both are the head's per-label thresholds (``photo``: 1 - low, ``stamp``: high), so they
are part of its version. Weights come from
``python -m jewel_vision.training.train_stamp_gate``; figures in
``jewel_vision/vision/weights/OCR_CARD.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .embedding_head import ThresholdedHead

__all__ = ["DEFAULT_STAMP_GATE_PATH", "StampGate"]

DEFAULT_STAMP_GATE_PATH = Path(__file__).resolve().parent.parent / "weights" / "stamp_gate.npz"


class StampGate(ThresholdedHead):
    """Head with classes ``["photo", "stamp"]``; ``stamp_probability(vectors)`` -> float32 [N]."""

    name = "stamp-gate"
    kind = "stamp gate"
    trained_by = "python -m jewel_vision.training.train_stamp_gate"

    def __init__(self, path: str | os.PathLike[str] | None = None, device: str = "auto") -> None:
        super().__init__(path if path is not None else DEFAULT_STAMP_GATE_PATH, device=device)

    def stamp_probability(self, embeddings: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(embeddings)
        return proba[:, self.classes.index("stamp")].astype(np.float32)

    @property
    def low(self) -> float:
        """Below this p(stamp) a photo is not read."""
        return 1.0 - float(self.thresholds["photo"])

    @property
    def high(self) -> float:
        """At or above this p(stamp) a photo is read without the text-detector gate."""
        return float(self.thresholds["stamp"])
