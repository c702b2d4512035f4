"""Metrics for ``jewel-vision eval``: plain numpy, no model code."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]


def classification(truth: Sequence[str], predicted: Sequence[str | None]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and a confusion matrix.

    A missing prediction (None) counts as wrong. Classes are those of the truth
    and the predictions together.
    """
    pred = [p if p is not None else "(none)" for p in predicted]
    labels = sorted(set(truth) | set(pred))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(truth, pred):
        matrix[index[t], index[p]] += 1
    per_class = {}
    f1s = []
    truth_labels = sorted(set(truth))
    for label in labels:
        i = index[label]
        tp = int(matrix[i, i])
        support = int(matrix[i].sum())
        predicted_n = int(matrix[:, i].sum())
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if label == "(none)" and support == 0:
            continue
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if label in truth_labels:
            f1s.append(f1)
    n = len(truth)
    return {
        "n": n,
        "accuracy": float(np.trace(matrix) / n) if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "per_class": per_class,
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }


def multilabel(truth: Sequence[frozenset[str]], predicted: Sequence[frozenset[str]]) -> dict:
    """Micro- and macro-F1 over label sets."""
    labels = sorted(set().union(*truth, *predicted)) if truth else []
    tp_all = fp_all = fn_all = 0
    per_class = {}
    f1s = []
    for label in labels:
        tp = sum(1 for t, p in zip(truth, predicted) if label in t and label in p)
        fp = sum(1 for t, p in zip(truth, predicted) if label not in t and label in p)
        fn = sum(1 for t, p in zip(truth, predicted) if label in t and label not in p)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        per_class[label] = {"f1": f1, "support": tp + fn}
        if tp + fn:
            f1s.append(f1)
    micro = 2 * tp_all / (2 * tp_all + fp_all + fn_all) if tp_all + fp_all + fn_all else 0.0
    return {"n": len(truth), "micro_f1": micro, "macro_f1": float(np.mean(f1s)) if f1s else 0.0, "per_class": per_class}


def retrieval(vectors: np.ndarray, groups: Sequence[str], ks: Sequence[int] = (1, 5, 10)) -> dict:
    """For each image of a product with 2+ images: is another view among its top k of all others?"""
    groups = list(groups)
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    queries = [i for i, g in enumerate(groups) if counts[g] >= 2]
    result: dict = {"n": len(queries)}
    if not queries:
        for k in ks:
            result[f"recall@{k}"] = None
        return result
    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sims = v[queries] @ v.T
    sims[np.arange(len(queries)), queries] = -np.inf
    order = np.argsort(-sims, axis=1)
    labels = np.asarray(groups)
    for k in ks:
        hits = [(labels[order[r, :k]] == groups[q]).any() for r, q in enumerate(queries)]
        result[f"recall@{k}"] = float(np.mean(hits))
    return result


def iou_masks(truth: np.ndarray, predicted: np.ndarray) -> float:
    t, p = truth.astype(bool), predicted.astype(bool)
    union = np.logical_or(t, p).sum()
    return float(np.logical_and(t, p).sum() / union) if union else 1.0


def box_iou(a: Box, b: Box) -> float:
    ix0, iy0, ix1, iy1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix1 - ix0) * max(0.0, iy1 - iy0)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def average_precision(
    truth: Sequence[Sequence[Box]], predicted: Sequence[Sequence[tuple[Box, float]]], iou_threshold: float = 0.5
) -> dict:
    """VOC-style AP (all-point interpolation) at one IoU threshold, class-agnostic."""
    n_truth = sum(len(t) for t in truth)
    detections = [(score, img, box) for img, preds in enumerate(predicted) for box, score in preds]
    detections.sort(key=lambda d: -d[0])
    matched = [np.zeros(len(t), dtype=bool) for t in truth]
    tp = np.zeros(len(detections))
    for d, (_, img, box) in enumerate(detections):
        ious = [box_iou(box, g) for g in truth[img]]
        if ious:
            j = int(np.argmax(ious))
            if ious[j] >= iou_threshold and not matched[img][j]:
                matched[img][j] = True
                tp[d] = 1
    if n_truth == 0:
        return {"n": len(truth), "ap50": None, "n_boxes": 0}
    ap, recall = interpolated_ap(tp, n_truth)
    return {"n": len(truth), "ap50": ap, "n_boxes": n_truth, "recall": recall}


def interpolated_ap(hits: Sequence[float], n_truth: int) -> tuple[float, float]:
    """(AP, final recall) of detections already sorted by score: 1 = true, 0 = false positive.

    VOC all-point interpolation: the area under the precision envelope over recall.
    """
    tp = np.asarray(hits, dtype=np.float64)
    if n_truth <= 0 or tp.size == 0:
        return 0.0, 0.0
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    recall = ctp / n_truth
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1])), float(recall[-1])
