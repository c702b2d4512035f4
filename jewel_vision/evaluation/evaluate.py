"""Running the pipeline over a manifest and scoring every task whose column is present."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from jewel_vision.evaluation import metrics
from jewel_vision.evaluation.manifest import Row

# Ground-truth gemstone names mapped to the pipeline's stone vocabulary.
CLEAR_STONES = frozenset(
    {"diamond", "cubic zirconia", "crystal/rhinestone", "crystal", "rhinestone", "moissanite", "white sapphire", "clear"}
)


def stone_class(name: str) -> str | None:
    """``ruby`` -> ``coloured``, ``cubic zirconia`` -> ``diamond`` (clear stone), ``pearl`` -> ``pearl``."""
    name = name.strip().lower()
    if not name or name in {"none", "no stone"}:
        return None
    if name in CLEAR_STONES:
        return "diamond"
    if name == "pearl":
        return "pearl"
    if name in {"coloured", "colored", "coloured_gem", "coloured gem"}:
        return "coloured"
    return "coloured"


def normalise_hallmark(text: str | None) -> str | None:
    if not text:
        return None
    try:
        from jewel_vision.vision.hallmarks import parse_hallmark
    except ImportError:  # pragma: no cover - the parser ships with the pipeline
        parse_hallmark = None
    if parse_hallmark is not None:
        parsed = parse_hallmark(text)
        if parsed is not None:
            return parsed.mark
    return "".join(text.split()).upper()


@dataclass
class Prediction:
    type: str | None = None
    type_confidence: float = 0.0
    metal_tone: str | None = None
    metal_tone_confidence: float = 0.0
    stones: frozenset[str] = frozenset()
    vector: np.ndarray | None = None
    mask: np.ndarray | None = None
    boxes: list[tuple[tuple[float, float, float, float], float]] = field(default_factory=list)
    box_labels: list[str] = field(default_factory=list)
    hallmark: str | None = None
    error: str | None = None


def _top(tags: list, facet: str) -> tuple[str | None, float]:
    best = max((t for t in tags if t.facet == facet), key=lambda t: t.confidence, default=None)
    return (best.value, float(best.confidence)) if best else (None, 0.0)


def prediction_from(result: Any, stone_threshold: float = 0.5) -> Prediction:
    """What the scorer needs from one :class:`AnalysisResult`."""
    pred = Prediction()
    pred.type, pred.type_confidence = _top(result.tags, "type")
    pred.metal_tone, pred.metal_tone_confidence = _top(result.tags, "metal_tone")
    pred.stones = frozenset(
        stone_class(t.value) for t in result.tags
        if t.facet == "stone" and t.confidence >= stone_threshold and stone_class(t.value)
    )
    if result.embedding is not None:
        pred.vector = np.asarray(result.embedding.vector, dtype=np.float32)
    item = [r for r in result.regions if r.label == "item"]
    if item:
        pred.mask = np.array(Image.open(io.BytesIO(item[0].mask_png)).convert("L")) > 127
    pieces = result.pieces()
    pred.boxes = [(tuple(d.box), float(d.score)) for d in pieces]
    pred.box_labels = [d.label for d in pieces]
    texts = sorted((t for t in result.texts if t.normalised), key=lambda t: -t.score)
    pred.hallmark = texts[0].normalised if texts else None
    return pred


def _mapped(label: str | None, label_map: dict[str, str]) -> str | None:
    return label_map.get(label, label) if label is not None else None


def _load_mask(path, size: tuple[int, int] | None = None) -> np.ndarray:
    mask = Image.open(path).convert("L")
    return np.array(mask) > 127


def score(rows: list[Row], preds: list[Prediction], present: list[str], label_map: dict[str, str]) -> dict:
    """Every metric whose ground-truth column is present."""
    out: dict[str, Any] = {}
    if "type" in present:
        idx = [i for i, r in enumerate(rows) if r.type]
        out["type"] = metrics.classification(
            [_mapped(rows[i].type, label_map) for i in idx], [_mapped(preds[i].type, label_map) for i in idx]
        )
    if "metal_tone" in present:
        idx = [i for i, r in enumerate(rows) if r.metal_tone]
        out["metal_tone"] = metrics.classification(
            [_mapped(rows[i].metal_tone, label_map) for i in idx],
            [_mapped(preds[i].metal_tone, label_map) for i in idx],
        )
    if "gemstone" in present:
        idx = [i for i, r in enumerate(rows) if r.gemstone is not None]
        truth = [frozenset(_mapped(c, label_map) for c in map(stone_class, rows[i].gemstone) if c) for i in idx]
        predicted = [frozenset(_mapped(s, label_map) for s in preds[i].stones) for i in idx]
        out["gemstone"] = metrics.multilabel(truth, predicted)
    if "group_id" in present:
        idx = [i for i, r in enumerate(rows) if r.group_id and preds[i].vector is not None]
        vectors = np.stack([preds[i].vector for i in idx]) if idx else np.zeros((0, 1))
        out["retrieval"] = metrics.retrieval(vectors, [rows[i].group_id for i in idx])
    if "mask_path" in present:
        ious = []
        for r, p in zip(rows, preds):
            if r.mask_path is None or p.error:
                continue
            truth = _load_mask(r.mask_path)
            if p.mask is None:
                ious.append(0.0)
                continue
            mask = p.mask
            if mask.shape != truth.shape:
                mask = np.array(Image.fromarray(mask.astype(np.uint8) * 255).resize(truth.shape[::-1], Image.NEAREST)) > 127
            ious.append(metrics.iou_masks(truth, mask))
        out["segmentation"] = {"n": len(ious), "miou": float(np.mean(ious)) if ious else None}
    if "boxes_yolo_norm" in present:
        # The boxes of a row with a type are boxes of that type: only detections labelled with it
        # count (class-aware AP, as a ring's AP must not count the watch next to it as a false
        # ring). "ap50_any_label" is the class-agnostic figure over every detected piece.
        idx = [i for i, r in enumerate(rows) if r.boxes is not None]
        typed = [
            [b for b, label in zip(preds[i].boxes, preds[i].box_labels)
             if not rows[i].type or _mapped(label, label_map) == _mapped(rows[i].type, label_map)]
            for i in idx
        ]
        out["detection"] = metrics.average_precision([rows[i].boxes for i in idx], typed)
        agnostic = metrics.average_precision([rows[i].boxes for i in idx], [preds[i].boxes for i in idx])
        out["detection"]["ap50_any_label"] = agnostic["ap50"]
    if "text" in present:
        idx = [i for i, r in enumerate(rows) if r.text]
        hits = [normalise_hallmark(rows[i].text) == preds[i].hallmark for i in idx]
        out["ocr"] = {"n": len(idx), "exact": float(np.mean(hits)) if hits else None}
    return out


def worst_mistakes(rows: list[Row], preds: list[Prediction], label_map: dict[str, str], limit: int = 24) -> list[dict]:
    """Confidently wrong type and metal-tone predictions, most confident first."""
    mistakes = []
    for r, p in zip(rows, preds):
        for facet, truth, guess, conf in (
            ("type", r.type, p.type, p.type_confidence),
            ("metal_tone", r.metal_tone, p.metal_tone, p.metal_tone_confidence),
        ):
            if truth and _mapped(truth, label_map) != _mapped(guess, label_map):
                mistakes.append({"path": str(r.path), "facet": facet, "truth": truth, "predicted": guess or "(none)", "confidence": conf})
        if p.error:
            mistakes.append({"path": str(r.path), "facet": "decode", "truth": "", "predicted": p.error, "confidence": 1.0})
    mistakes.sort(key=lambda m: -m["confidence"])
    return mistakes[:limit]


def run(
    rows: list[Row],
    present: list[str],
    pipeline: Any,
    *,
    label_map: dict[str, str] | None = None,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, list[Prediction]]:
    """Run ``pipeline`` on every row and score it. Returns (report, predictions)."""
    from jewel_vision.vision.types import ImageDecodeError

    label_map = label_map or {}
    preds: list[Prediction] = []
    started = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        results = pipeline.run_batch([str(r.path) for r in batch], return_exceptions=True)
        for result in results:
            if isinstance(result, ImageDecodeError):
                preds.append(Prediction(error=str(result)))
            else:
                preds.append(prediction_from(result))
        if progress:
            progress(len(preds), len(rows))
    elapsed = time.perf_counter() - started
    report = score(rows, preds, present, label_map)
    n = len(rows)
    ips = n / elapsed if elapsed > 0 else 0.0
    for task in report.values():
        task["n_images"] = n
        task["images_per_second"] = ips
    report["n_images"] = n
    report["images_per_second"] = ips
    report["n_errors"] = sum(1 for p in preds if p.error)
    report["label_map"] = label_map
    return report, preds
