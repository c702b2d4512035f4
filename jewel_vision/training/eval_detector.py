"""How well and how fast the jewelry detector does on ring-hands rows: ring box AP at IoU 0.5
(VOC all-point; photos whose other jewelry is unlabelled are scored three ways), mask IoU at full
resolution, and milliseconds per photo. ``evaluate_detector(detector, rows)`` is self-contained and
can be used on any list of ring-hands rows (``RingRow`` or manifest dicts)."""

from __future__ import annotations

import time
from typing import Any, Iterable, Sequence

import numpy as np

from jewel_vision.evaluation.metrics import box_iou, interpolated_ap, iou_masks

from . import data as D

__all__ = ["average_precision", "evaluate_detector", "measure_speed"]


def average_precision(scored: list[tuple], gts: dict[int, list[Sequence[float]]], iou_threshold: float = 0.5) -> float:
    """VOC-style (all-point interpolated) AP.

    ``scored``: (score, image id, box[, ignorable]) per detection; ``gts``: image id -> boxes.
    Detections are taken by decreasing score; one matching an unused ground-truth box
    with IoU >= ``iou_threshold`` is a true positive, else a false positive, unless
    it is ``ignorable`` (then it is left out, like VOC's "difficult" objects).
    """
    n_gt = sum(len(v) for v in gts.values())
    if n_gt == 0:
        return float("nan")
    used = {k: [False] * len(v) for k, v in gts.items()}
    tps = []
    for det in sorted(scored, key=lambda t: -t[0]):
        img, box = det[1], det[2]
        ignorable = bool(det[3]) if len(det) > 3 else False
        best, best_j = 0.0, -1
        for j, g in enumerate(gts.get(img, [])):
            iou = box_iou(box, g)
            if iou > best:
                best, best_j = iou, j
        if best >= iou_threshold and not used[img][best_j]:
            used[img][best_j] = True
            tps.append(1)
        elif not ignorable:
            tps.append(0)
    return interpolated_ap(tps, n_gt)[0]


def _as_row(r: Any) -> D.RingRow:
    if isinstance(r, D.RingRow):
        return r
    # a manifest dict with absolute (or cwd-relative) paths
    return D.RingRow(path=r["path"], mask_path=r["mask_path"], number=0, boxes=D._parse_boxes(r["boxes_yolo_norm"]),
                     label="ring", width=int(r.get("width", 0) or 0), height=int(r.get("height", 0) or 0))


def evaluate_detector(detector, rows: Iterable[Any], score_threshold: float = 0.3, batch_size: int = 4) -> dict[str, Any]:
    """Ring box AP at IoU 0.5 and mask IoU of ``detector`` on ring-hands rows (RingRow or manifest dicts).

    Ground truth: ring-hands boxes mark one ring per photo while the masks mark
    all the jewelry in it (a second ring, a watch). The ring boxes are snapped
    to the mask components they overlap (:func:`jewel_vision.training.data.ring_gt`,
    which also repairs a few degenerate manifest boxes).

    - ``ap50``: VOC all-point AP over every detection the detector returns
      (give it a low ``score_threshold`` for the whole precision/recall curve),
      by decreasing score, against the ring boxes; a detection that matches no
      ring box but lies mostly (>= 50 % of its mask) on *other annotated
      jewelry* of the mask is ignored rather than counted as a false positive.
    - ``ap50_strict``: the same without ignoring anything; ``ap50_manifest``:
      strict, against the raw manifest boxes.
    - ``miou``: per photo, IoU at full resolution between the ground-truth
      mask (all annotated jewelry) and the union of the masks of detections
      scoring >= ``score_threshold`` (0 if there is none but the mask is not
      empty), averaged over photos.
    - ``ring_miou``: per photo, the best IoU of one detection's mask (same cut)
      with the mask of the boxed ring alone, averaged.
    - ``recall50`` / ``fp_per_image`` at the score cut (ignorable ones not counted), ``n`` photos.
    """
    from PIL import Image

    rows = [_as_row(r) for r in rows]
    scored: list[tuple] = []
    gts: dict[int, list[Sequence[float]]] = {}
    gts_manifest: dict[int, list[Sequence[float]]] = {}
    ious, ring_ious = [], []
    tp_cut = fp_cut = multi = 0
    t_total = 0.0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        images = []
        for r in chunk:
            with Image.open(r.path) as im:
                images.append(im.convert("RGB"))
        t0 = time.perf_counter()
        results = detector.detect(images)
        t_total += time.perf_counter() - t0
        for offset, (r, items) in enumerate(zip(chunk, results)):
            i = start + offset
            gt = D.load_mask(r)
            boxes, ring_mask = D.ring_gt(r, gt)
            gts[i] = [tuple(b) for b in boxes]
            gts_manifest[i] = [tuple(b) for b in r.boxes]
            other = gt & ~ring_mask
            multi += int(other.sum() > 50)
            for it in items:
                area = max(1, int(it.mask.sum()))
                ignorable = np.logical_and(it.mask, other).sum() >= 0.5 * area
                scored.append((float(it.score), i, tuple(it.box), ignorable))
            sel = [it for it in items if it.score >= score_threshold]
            if sel:
                ious.append(iou_masks(np.logical_or.reduce([it.mask for it in sel]), gt))
                ring_ious.append(max(iou_masks(it.mask, ring_mask) for it in sel))
            else:
                ious.append(0.0 if gt.any() else 1.0)
                ring_ious.append(0.0)
            matched = [False] * len(gts[i])
            for it in sorted(sel, key=lambda t: -t.score):
                best = max(((box_iou(it.box, g), j) for j, g in enumerate(gts[i])), default=(0.0, -1))
                if best[0] >= 0.5 and not matched[best[1]]:
                    matched[best[1]] = True
                    tp_cut += 1
                elif np.logical_and(it.mask, other).sum() < 0.5 * max(1, int(it.mask.sum())):
                    fp_cut += 1
    n = len(rows)
    n_gt = sum(len(v) for v in gts.values())
    return {
        "n": n,
        "ap50": average_precision(scored, gts, 0.5),
        "ap50_strict": average_precision([t[:3] for t in scored], gts, 0.5),
        "ap50_manifest": average_precision([t[:3] for t in scored], gts_manifest, 0.5),
        "miou": float(np.mean(ious)) if ious else float("nan"),
        "ring_miou": float(np.mean(ring_ious)) if ring_ious else float("nan"),
        "recall50": tp_cut / max(1, n_gt),
        "fp_per_image": fp_cut / max(1, n),
        "multi_object_fraction": multi / max(1, n),
        "score_threshold": score_threshold,
        "ms_per_image": 1000.0 * t_total / max(1, n),
    }


def measure_speed(detector, rows: Sequence[D.RingRow], n: int = 20) -> float:
    from PIL import Image

    images = []
    for r in list(rows)[:n]:
        with Image.open(r.path) as im:
            images.append(im.convert("RGB"))
    detector.detect(images[:2])  # warm-up
    t0 = time.perf_counter()
    for img in images:
        detector.detect([img])
    return 1000.0 * (time.perf_counter() - t0) / len(images)
