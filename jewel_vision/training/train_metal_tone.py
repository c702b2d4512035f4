"""Train the metal-tone head (facet ``metal_tone``: yellow / white / rose) and measure it as a new shop would.

    python -m jewel_vision.training.train_metal_tone [--data-root ../shared/datasets] \\
        [--out jewel_vision/vision/weights/metal_tone_head.npz] [--results benchmarks/results/metal-tone-loso.json]
    python -m jewel_vision.training.train_metal_tone features   # only (re)build the feature cache

Data: ``metal-tone/labels.csv`` (+ ``labels-detail.csv``): 471 photos of three shops
(``princesegzy01``, ``tanishq`` from ``jewelry-types``; ``pcjeweller``). ``mixed`` becomes its
dominant tone (first of ``mixed_tones_dominant_first``); ``unsure`` and ``none`` are not
scored for accuracy (their abstention rate is reported). Extra training rows: the tone column of
``vision/weights/stone_head_labels.csv`` (jewelry-types photos labelled by another person), only
photos not in ``metal-tone`` and only in *training* splits of their own source.

Features: the pipeline itself is run on every photo (detector, type head, packshot mask when
present: exactly the item mask the pipeline uses at inference) and the mask it hands to
``attributes.describe`` is turned into ``metal_tone.TONE_FEATURES``; the old rules' answer on the
same mask is kept for comparison. Cached under ``var/cache/jewel_vision/metal_tone/``.

Splits: each source's ``group_id`` groups are split train / validation / test (60/20/20,
stratified by tone, seed fixed).

1. **Leave one source out** (the headline): for each source S, a head is trained on the
   *training* splits of the other two sources; its L2 strength and per-label thresholds are
   chosen on their *validation* splits; it is scored once on all of S's labelled photos (and,
   separately, on S's test split). Nothing of S decides anything in that fold.
2. **Shipped head**: trained on the training splits of all three sources; L2 and thresholds
   chosen on all validation splits; the test splits are read once, for the card.

Thresholds (per label, on validation): the lowest t >= 0.5 at which
P(true = c | top = c, p_c >= t) >= target (0.95 for yellow/white, 0.98 for rose with at least
``ROSE_MIN_VAL`` rose photos in validation, else rose's threshold is 1.0: never shown).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from jewel_vision.vision import colour, item_pixels, metal_tone
from jewel_vision.vision import pipeline as vision_pipeline
from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.pipeline import Pipeline, PipelineConfig

from .common import DEFAULT_CACHE_DIR, log, stratified_group_split
from .data import default_data_root

#: The modules whose code makes the features (their hash keys the feature cache).
FEATURE_CODE = (colour, item_pixels, metal_tone)

CLASSES = ["yellow", "white", "rose"]
SOURCES = ["princesegzy01_jewellery5", "tanishq_kaggle_mirror", "pcjeweller"]
SHORT = {"princesegzy01_jewellery5": "princesegzy01", "tanishq_kaggle_mirror": "tanishq", "pcjeweller": "pcjeweller"}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "vision" / "weights" / "metal_tone_head.npz"
DEFAULT_RESULTS = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "results" / "metal-tone-loso.json"
EXTRA_LABELS = Path(__file__).resolve().parent.parent / "vision" / "weights" / "stone_head_labels.csv"
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)
TARGETS = {"yellow": 0.92, "white": 0.92, "rose": 0.97}
#: Candidate inputs; the set is chosen on validation splits only (see main). Unused features get zero weights.
FEATURE_SETS = {
    "rules_only": ["r_white", "r_rose"],
    "rules+colour": ["r_white", "r_rose", "r_c50", "r_hue_x", "r_hue_y", "m_c50", "m_hue_x", "m_hue_y", "m_neutral"],
    "rules+colour+scene": ["r_white", "r_rose", "r_c50", "r_hue_x", "r_hue_y", "m_c50", "m_hue_x", "m_hue_y",
                           "m_neutral", "m_roseish", "m_yellowish", "bg_neutral", "wb_a", "wb_b", "skin"],
    "all": None,
    "rules_thresholded": "rules",  # no learning: the old rules' probabilities + per-label thresholds
}
ROSE_MIN_VAL = 5
SEED = 0


# ------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------
def load_rows(root: Path, extra: bool = True) -> list[dict]:
    """Every labelled photo: dataset, path, source, group, tone (one of CLASSES, 'unsure' or 'none'), origin."""
    jt = {r["path"]: r for r in csv.DictReader(open(root / "jewelry-types" / "manifest.csv"))}
    pcj = {r["path"]: r for r in csv.DictReader(open(root / "pcjeweller" / "manifest.csv"))}
    rows = []
    seen = set()
    for r in csv.DictReader(open(root / "metal-tone" / "labels-detail.csv")):
        man = jt[r["path"]] if r["dataset"] == "jewelry-types" else pcj[r["path"]]
        tone = r["tone"]
        if tone == "mixed":
            tone = r["mixed_tones_dominant_first"].split("+")[0]
        rows.append({"dataset": r["dataset"], "path": r["path"], "source": man["source"],
                     "group": man["group_id"] or r["path"], "tone": tone, "raw_tone": r["tone"],
                     "type": r["type"], "origin": "metal-tone"})
        seen.add((r["dataset"], r["path"]))
    if extra and EXTRA_LABELS.is_file():
        for r in csv.DictReader(open(EXTRA_LABELS)):
            if r["metal_tone"] not in CLASSES or ("jewelry-types", r["path"]) in seen or r["path"] not in jt:
                continue
            man = jt[r["path"]]
            rows.append({"dataset": "jewelry-types", "path": r["path"], "source": man["source"],
                         "group": man["group_id"] or r["path"], "tone": r["metal_tone"], "raw_tone": r["metal_tone"],
                         "type": man["type"], "origin": "stone-head-labels"})
    return rows


def assign_splits(rows: list[dict]) -> None:
    """row['split'] in train/val/test: per source, by group, stratified by tone, 60/20/20.

    Groups are split on the metal-tone rows; extra rows follow their group when it is already
    placed and otherwise go to train (they are never scored).
    """
    for src in SOURCES:
        idx = [i for i, r in enumerate(rows) if r["source"] == src and r["origin"] == "metal-tone"]
        labels = [rows[i]["tone"] for i in idx]
        groups = [rows[i]["group"] for i in idx]
        rest, test = stratified_group_split(labels, groups, 0.2, SEED)
        sub_l = [labels[j] for j in rest]
        sub_g = [groups[j] for j in rest]
        tr, va = stratified_group_split(sub_l, sub_g, 0.25, SEED + 1)
        split_of_group = {}
        for j in test:
            split_of_group[groups[j]] = "test"
        for j in va:
            split_of_group[sub_g[j]] = "val"
        for j in tr:
            split_of_group[sub_g[j]] = "train"
        for i in idx:
            rows[i]["split"] = split_of_group[rows[i]["group"]]
        for r in rows:
            if r["source"] == src and r["origin"] != "metal-tone":
                r["split"] = split_of_group.get(r["group"], "train")


# ------------------------------------------------------------------------------------------
# Features (through the pipeline's own masks)
# ------------------------------------------------------------------------------------------
def _mask_cache_path(cache_dir: Path, packshot_mask: bool = True) -> Path:
    return cache_dir / "metal_tone" / ("pipeline-masks.npz" if packshot_mask else "pipeline-masks-detector.npz")


def pipeline_masks(rows: list[dict], root: Path, cache_dir: Path, batch: int = 8,
                   packshot_mask: bool = True) -> dict[str, np.ndarray | None]:
    """The item mask the pipeline hands to ``attributes.describe`` for each photo (cached by path).

    The cache is keyed by the pipeline's version (detector, type head, packshot mask, settings).
    """
    import torch

    torch.set_num_threads(1)
    extra = {"packshot_mask": False} if not packshot_mask else {}
    pipe = Pipeline(PipelineConfig(device="cpu", stones=False, ocr_engine=None, stamp_gate=False, batch_size=batch, **extra))
    mv = {k: v for k, v in pipe.model_versions.items() if k != "attributes"}
    version = hashlib.sha256(json.dumps(mv, sort_keys=True).encode()).hexdigest()[:12]
    path = _mask_cache_path(cache_dir, packshot_mask)
    masks: dict[str, np.ndarray | None] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["version"]) == version:
                for k, bits, shape in zip(z["keys"], z["bits"], z["shapes"]):
                    h, w = (int(v) for v in shape)
                    masks[str(k)] = None if h == 0 else np.unpackbits(bits, count=h * w)[: h * w].reshape(h, w).astype(bool)
    keys = [f"{r['dataset']}/{r['path']}" for r in rows]
    todo = [i for i, k in enumerate(keys) if k not in masks]
    if not todo:
        return masks
    log(f"masks: {len(todo)} photos to run through the pipeline ({len(masks)} cached, pipeline {version})")
    captured: list = []
    original = vision_pipeline.describe  # the name the pipeline calls

    def spy(image, item_mask, **kw):
        captured.append(None if item_mask is None else np.asarray(item_mask) >= 0.5)
        return original(image, item_mask, **kw)

    vision_pipeline.describe = spy
    try:
        t0 = time.time()
        for s in range(0, len(todo), batch):
            chunk = todo[s:s + batch]
            captured.clear()
            pipe.run_batch([str(root / rows[i]["dataset"] / rows[i]["path"]) for i in chunk])
            assert len(captured) == len(chunk)
            for i, m in zip(chunk, captured):
                masks[keys[i]] = m
            if (s // batch) % 10 == 0:
                log(f"  {s + len(chunk)}/{len(todo)} ({time.time() - t0:.0f} s)")
                _save_masks(path, masks, version)
    finally:
        vision_pipeline.describe = original
    _save_masks(path, masks, version)
    return masks


def _save_masks(path: Path, masks: dict, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ks = sorted(masks)
    bits, shapes = [], []
    for k in ks:
        m = masks[k]
        shapes.append((0, 0) if m is None else m.shape)
        bits.append(np.zeros(0, np.uint8) if m is None else np.packbits(m.ravel()))
    lengths = [len(b) for b in bits]
    width = max(lengths) if lengths else 0
    padded = np.zeros((len(bits), width), np.uint8)
    for j, b in enumerate(bits):
        padded[j, : len(b)] = b
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, keys=np.array(ks), bits=padded, shapes=np.array(shapes, np.int64), version=np.array(version))
    os.replace(tmp, path)


def extract_features(rows: list[dict], root: Path, cache_dir: Path,
                     packshot_mask: bool = True) -> tuple[np.ndarray, list[str]]:
    """Feature matrix [N, F] and the old rules' top tone per row, on the pipeline's masks.

    Features are cached by the hash of the code that computes them (any change recomputes them).
    """
    masks = pipeline_masks(rows, root, cache_dir, packshot_mask=packshot_mask)
    code = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in FEATURE_CODE)).hexdigest()[:12]
    path = cache_dir / "metal_tone" / f"features-{'packshot' if packshot_mask else 'detector'}-{code}.npz"
    keys = [f"{r['dataset']}/{r['path']}" for r in rows]
    cached: dict[str, tuple[np.ndarray, str]] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            cached = {str(k): (x, str(r)) for k, x, r in zip(z["keys"], z["X"], z["rules"])}
    todo = [k for k in keys if k not in cached]
    if todo:
        log(f"features: {len(todo)} photos")
        t0 = time.time()
        for k in todo:
            img = load_image(str(root / k))  # the pipeline's decode (same defaults)
            prep = item_pixels.prepare(img, masks[k])
            metal = item_pixels.split_metal_stone(prep)[0]
            rules = metal_tone.tone_probs(metal_tone.metal_features(prep, metal))
            cached[k] = (metal_tone.tone_vector(prep, metal), max(rules.items(), key=lambda kv: kv[1])[0])
        log(f"  {time.time() - t0:.0f} s")
        path.parent.mkdir(parents=True, exist_ok=True)
        ks = sorted(cached)
        np.savez(path, keys=np.array(ks), X=np.stack([cached[q][0] for q in ks]), rules=np.array([cached[q][1] for q in ks]))
    X = np.stack([cached[k][0] for k in keys]).astype(np.float64)
    return X, [cached[k][1] for k in keys]


# ------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------
def feature_columns(feature_set: str) -> np.ndarray | str:
    """The columns of ``metal_tone.TONE_FEATURES`` a :data:`FEATURE_SETS` entry uses ("rules": none, the rules' own answer)."""
    feats = FEATURE_SETS[feature_set]
    if isinstance(feats, str):
        return feats
    names = list(metal_tone.TONE_FEATURES)
    return np.arange(len(names)) if feats is None else np.array([names.index(f) for f in feats])


def fit_softmax(X: np.ndarray, y: np.ndarray, l2: float, weights: np.ndarray | None = None,
                iters: int = 400, cols: np.ndarray | None = None) -> dict:
    """Multinomial logistic regression (standardised inputs, L2 on W), full-batch L-BFGS via scipy.

    ``cols``: the feature columns used; the others get zero weights in the returned ``W``.
    """
    from scipy.optimize import minimize

    cols = np.arange(X.shape[1]) if cols is None else np.asarray(cols)
    mean_all = X.mean(0)
    std_all = X.std(0) + 1e-6
    mean, std = mean_all[cols], std_all[cols]
    Z = (X[:, cols] - mean) / std
    n, f = Z.shape
    k = len(CLASSES)
    Y = np.eye(k)[y]
    w = np.ones(n) if weights is None else weights
    w = w / w.sum()

    def loss(theta):
        W = theta[: f * k].reshape(f, k)
        b = theta[f * k:]
        s = Z @ W + b
        s -= s.max(1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(1, keepdims=True))
        p = np.exp(logp)
        L = -(w * (Y * logp).sum(1)).sum() + 0.5 * l2 * (W * W).sum()
        G = (p - Y) * w[:, None]
        gW = Z.T @ G + l2 * W
        gb = G.sum(0)
        return L, np.concatenate([gW.ravel(), gb])

    res = minimize(loss, np.zeros(f * k + k), jac=True, method="L-BFGS-B", options={"maxiter": iters})
    W = np.zeros((X.shape[1], k))
    W[cols] = res.x[: f * k].reshape(f, k)
    return {"mean": mean_all, "std": std_all, "W": W, "b": res.x[f * k:], "l2": l2}


def rules_proba(X: np.ndarray) -> np.ndarray:
    """The hand-set rules' probabilities, from their logits kept in the features (r_white, r_rose)."""
    return metal_tone.rules_proba(X)


def proba(model: dict, X: np.ndarray) -> np.ndarray:
    if model.get("kind") == "rules":
        return rules_proba(X)
    s = ((X - model["mean"]) / model["std"]) @ model["W"] + model["b"]
    s -= s.max(1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(1, keepdims=True)


def balanced_weights(y: np.ndarray, src: list[str]) -> np.ndarray:
    """Each (source, class) cell weighs the same, capped so that a tiny cell cannot dominate."""
    cells = Counter(zip(src, y.tolist()))
    w = np.array([1.0 / cells[(s, c)] for s, c in zip(src, y.tolist())])
    # a cell of < 5 rows (e.g. one rose photo of a shop) gets the weight of 5 rows
    w = np.array([min(wi, 1.0 / 5) for wi in w])
    return w


def choose_thresholds(P: np.ndarray, y: np.ndarray) -> tuple[dict, dict]:
    """Per label: lowest t >= 0.5 with precision(top = c, p >= t) >= TARGETS[c] on validation."""
    top, top_p = P.argmax(1), P.max(1)
    grid = np.round(np.arange(0.5, 0.996, 0.01), 4)
    thr, info = {}, {}
    for c, name in enumerate(CLASSES):
        support = int((y == c).sum())
        chosen, rule = None, "precision_target"
        if name == "rose" and support < ROSE_MIN_VAL:
            chosen, rule = 1.0, f"fewer than {ROSE_MIN_VAL} rose photos in validation: never shown"
        else:
            for t in grid:
                sel = (top == c) & (top_p >= t)
                if sel.sum() >= 1 and (y[sel] == c).mean() >= TARGETS[name]:
                    chosen = float(t)
                    break
            if chosen is None:
                chosen, rule = 1.0, "target not reached: never shown"
        sel = (top == c) & (top_p >= chosen)
        thr[name] = chosen
        info[name] = {"threshold": chosen, "rule": rule, "val_support": support, "val_confident": int(sel.sum()),
                      "val_precision": float((y[sel] == c).mean()) if sel.any() else None}
    return thr, info


def decide(P: np.ndarray, thr: dict) -> np.ndarray:
    """Top class, or -1 (abstain) when its probability is under its label's threshold."""
    top, top_p = P.argmax(1), P.max(1)
    t = np.array([thr[CLASSES[c]] for c in top])
    return np.where(top_p >= t, top, -1)


def score(pred: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy (abstention = miss), coverage, accuracy on answered, per-class recall, confusion (rows true, cols pred + abstain)."""
    n = len(y)
    conf = np.zeros((len(CLASSES), len(CLASSES) + 1), dtype=int)
    for t, p in zip(y, pred):
        conf[t, p if p >= 0 else len(CLASSES)] += 1
    answered = pred >= 0
    return {
        "n": int(n),
        "accuracy": float((pred == y).mean()) if n else None,
        "coverage": float(answered.mean()) if n else None,
        "accuracy_when_answered": float((pred[answered] == y[answered]).mean()) if answered.any() else None,
        "recall": {c: (float((pred[y == j] == j).mean()) if (y == j).any() else None) for j, c in enumerate(CLASSES)},
        "said_rose_for_non_rose": int(((pred == 2) & (y != 2)).sum()),
        "confusion": {"rows_true": CLASSES, "cols_pred": CLASSES + ["abstain"], "matrix": conf.tolist()},
    }


def train_and_decide(Xtr, ytr, src_tr, Xva, yva, src_va, cols=None) -> tuple[dict, dict, dict]:
    """Fit on the training rows for each L2; pick L2 by (balanced) validation log-loss; thresholds on validation.

    ``cols == "rules"``: no fitting, the hand-set rules' probabilities with thresholds chosen on validation.
    """
    if isinstance(cols, str) and cols == "rules":
        model = {"kind": "rules", "l2": None}
        thr, info = choose_thresholds(rules_proba(Xva), yva)
        return model, thr, {"l2": None, "val_logloss": None, "thresholds": info}
    best = None
    wv = balanced_weights(yva, src_va)
    for l2 in L2_GRID:
        m = fit_softmax(Xtr, ytr, l2, balanced_weights(ytr, src_tr), cols=cols)
        P = proba(m, Xva)
        ll = float(-(wv * np.log(P[np.arange(len(yva)), yva] + 1e-12)).sum() / wv.sum())
        if best is None or ll < best[0]:
            best = (ll, m)
    ll, model = best
    thr, info = choose_thresholds(proba(model, Xva), yva)
    return model, thr, {"l2": model["l2"], "val_logloss": ll, "thresholds": info}


# ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", default="train", choices=["train", "features"])
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--no-extra", action="store_true", help="do not add the stone_head_labels tone rows")
    ap.add_argument("--no-detector-masks", action="store_true", help="train/score on the pipeline's masks only")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = args.data_root or default_data_root()
    rows = load_rows(root, extra=not args.no_extra)
    assign_splits(rows)
    # Two mask variants: the pipeline as it runs now (packshot mask on plain backgrounds) and the
    # detector's masks only (PipelineConfig(packshot_mask=False)). The head trains on both (so it does
    # not depend on which one a deployment uses) and is scored on each.
    variants = {"pipeline": extract_features(rows, root, args.cache_dir, packshot_mask=True)}
    if not args.no_detector_masks:
        variants["detector_masks"] = extract_features(rows, root, args.cache_dir, packshot_mask=False)
    if args.command == "features":
        return 0
    Xs = {k: v[0] for k, v in variants.items()}
    rule_preds = {k: np.array([CLASSES.index(r) for r in v[1]]) for k, v in variants.items()}
    src = np.array([r["source"] for r in rows])
    tone = [r["tone"] for r in rows]
    cls = np.array([CLASSES.index(t) if t in CLASSES else -1 for t in tone])
    is_mt = np.array([r["origin"] == "metal-tone" for r in rows])
    mixed = np.array([r["raw_tone"] == "mixed" for r in rows])
    split = np.array([r["split"] for r in rows])
    labelled = cls >= 0
    counts = {SHORT[s]: dict(Counter(t for t, ss, m in zip(tone, src, is_mt) if ss == s and m)) for s in SOURCES}
    log(f"metal-tone rows per source: {counts}")

    def stacked(idx):
        X = np.vstack([Xs[k][idx] for k in Xs])
        return X, np.tile(cls[idx], len(Xs)), [s for _ in Xs for s in src[idx]]

    def fit(tr, va, cols=None):
        Xtr, ytr, str_ = stacked(tr)
        Xva, yva, sva = stacked(va)
        return train_and_decide(Xtr, ytr, str_, Xva, yva, sva, cols)

    # 0. model choice (the feature set), on validation splits only: for each source S, train on the
    #    other sources' training splits, thresholds on their validation splits, score on S's
    #    *validation* split; the set with the best mean accuracy (abstention = miss) wins.
    choice = {}
    for fs in FEATURE_SETS:
        cols = feature_columns(fs)
        accs = []
        for held in SOURCES:
            others = [s for s in SOURCES if s != held]
            tr = np.nonzero(labelled & np.isin(src, others) & (split == "train"))[0]
            va = np.nonzero(labelled & is_mt & np.isin(src, others) & (split == "val"))[0]
            hv = np.nonzero(labelled & is_mt & (src == held) & (split == "val"))[0]
            model, thr, _ = fit(tr, va, cols)
            hx, hy, _ = stacked(hv)
            accs.append(float((decide(proba(model, hx), thr) == hy).mean()))
        choice[fs] = {"per_source_val_accuracy": dict(zip([SHORT[s] for s in SOURCES], accs)), "mean": float(np.mean(accs))}
        log(f"feature set {fs:20s} held-out validation accuracy {choice[fs]}")
    best_set = max(choice, key=lambda k: choice[k]["mean"])
    best_cols = feature_columns(best_set)
    log(f"chosen feature set: {best_set}")

    def evaluate(model, thr, idx, variant):
        pred = decide(proba(model, Xs[variant][idx]), thr)
        out = {"new_head": score(pred, cls[idx]), "old_rules": score(rule_preds[variant][idx], cls[idx])}
        pure = ~mixed[idx]
        out["new_head_single_tone_only"] = score(pred[pure], cls[idx][pure])
        out["old_rules_single_tone_only"] = score(rule_preds[variant][idx][pure], cls[idx][pure])
        return out

    results: dict = {
        "task": "metal_tone (yellow/white/rose), one tone per photo ('mixed' -> its dominant tone)",
        "data": {"labels": "metal-tone/labels-detail.csv", "per_source_tones": counts,
                 "extra_training_rows": int((~is_mt).sum()),
                 "extra_training_note": "tone column of vision/weights/stone_head_labels.csv (another labeller), "
                                        "jewelry-types photos not in metal-tone; used only in training splits, never scored",
                 "split_counts": {SHORT[s]: dict(Counter(split[(src == s) & is_mt & labelled])) for s in SOURCES}},
        "features": list(metal_tone.TONE_FEATURES),
        "masks": {"pipeline": "the item mask the pipeline hands to attributes.describe (PipelineConfig(stones=False, "
                              "ocr_engine=None, stamp_gate=False), otherwise defaults: packshot mask on plain backgrounds)",
                  "detector_masks": "same with packshot_mask=False (detector masks only)"},
        "metric_note": "accuracy counts an abstention (top probability under its label's threshold) as a miss; "
                       "'unsure'/'none' photos are not in accuracy; their abstention rate is reported; "
                       "'single_tone_only' leaves out the photos labelled 'mixed'",
        "loso": {},
    }
    # 1. leave one source out
    summary = {v: {"new": [], "cov": [], "rules": []} for v in Xs}
    for held in SOURCES:
        others = [s for s in SOURCES if s != held]
        tr = np.nonzero(labelled & np.isin(src, others) & (split == "train"))[0]
        va = np.nonzero(labelled & is_mt & np.isin(src, others) & (split == "val"))[0]
        model, thr, dec = fit(tr, va, best_cols)
        te_all = np.nonzero(labelled & is_mt & (src == held))[0]
        te_test = te_all[split[te_all] == "test"]
        unsure = np.nonzero(is_mt & (src == held) & ~labelled)[0]
        entry = {
            "train_rows_per_variant": int(len(tr)), "val_rows_per_variant": int(len(va)),
            "train_tones": dict(Counter(CLASSES[c] for c in cls[tr])),
            "decisions_on_validation_of": [SHORT[s] for s in others], **dec,
        }
        for v in Xs:
            entry[v] = {"all_photos": evaluate(model, thr, te_all, v), "test_split": evaluate(model, thr, te_test, v)}
            u_pred = decide(proba(model, Xs[v][unsure]), thr) if len(unsure) else np.array([], int)
            entry[v]["unsure_or_none"] = {"n": int(len(unsure)),
                                          "abstained": float((u_pred < 0).mean()) if len(unsure) else None}
            a = entry[v]["all_photos"]
            summary[v]["new"].append(a["new_head"]["accuracy"])
            summary[v]["cov"].append(a["new_head"]["coverage"])
            summary[v]["rules"].append(a["old_rules"]["accuracy"])
            log(f"LOSO {SHORT[held]:14s} [{v}] n={len(te_all):3d} new acc {a['new_head']['accuracy']:.3f} "
                f"cov {a['new_head']['coverage']:.3f} (answered {a['new_head']['accuracy_when_answered']:.3f}) "
                f"| rules {a['old_rules']['accuracy']:.3f} | conf {a['new_head']['confusion']['matrix']}")
        log(f"   thr {thr} l2 {dec['l2']}")
        results["loso"][SHORT[held]] = entry
    results["model_choice"] = {"rule": "feature set with the best mean accuracy on the held-out source's validation "
                                        "split (train/thresholds on the other sources), test splits not read",
                               "candidates": {k: {"features": v, **choice[k]} for k, v in FEATURE_SETS.items()},
                               "chosen": best_set}
    results["loso_mean"] = {v: {"new_head_accuracy": float(np.mean(d["new"])), "new_head_coverage": float(np.mean(d["cov"])),
                                "old_rules_accuracy": float(np.mean(d["rules"]))} for v, d in summary.items()}
    log(f"LOSO mean: {results['loso_mean']}")

    # 2. shipped head
    tr = np.nonzero(labelled & (split == "train"))[0]
    va = np.nonzero(labelled & is_mt & (split == "val"))[0]
    model, thr, dec = fit(tr, va, best_cols)
    shipped = {"train_rows_per_variant": int(len(tr)), "val_rows_per_variant": int(len(va)), **dec, "test": {}}
    for v in Xs:
        shipped["test"][v] = {}
        for s in SOURCES + ["all"]:
            te = np.nonzero(labelled & is_mt & (split == "test") & ((src == s) if s != "all" else True))[0]
            shipped["test"][v][SHORT.get(s, s)] = evaluate(model, thr, te, v)
        a = shipped["test"][v]["all"]
        log(f"shipped [{v}]: test all n={a['new_head']['n']} acc {a['new_head']['accuracy']:.3f} "
            f"cov {a['new_head']['coverage']:.3f} | rules {a['old_rules']['accuracy']:.3f}")
    log(f"   thr {thr} l2 {dec['l2']}")
    results["shipped"] = shipped
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as fh:
        if model.get("kind") == "rules":  # "rules" head: no weights, the thresholds only
            nf = len(metal_tone.TONE_FEATURES)
            np.savez(fh, kind=np.array("rules"), classes=np.array(CLASSES), features=np.array(metal_tone.TONE_FEATURES),
                     mean=np.zeros(nf, np.float32), std=np.ones(nf, np.float32),
                     W=np.zeros((nf, len(CLASSES)), np.float32), b=np.zeros(len(CLASSES), np.float32),
                     thresholds=np.array([thr[c] for c in CLASSES], np.float32))
        else:
            np.savez(fh, kind=np.array("softmax"), classes=np.array(CLASSES), features=np.array(metal_tone.TONE_FEATURES),
                     mean=model["mean"].astype(np.float32), std=model["std"].astype(np.float32),
                     W=model["W"].astype(np.float32), b=model["b"].astype(np.float32),
                     thresholds=np.array([thr[c] for c in CLASSES], np.float32))
    results["shipped"]["file"] = str(args.out.name)
    results["shipped"]["version"] = item_pixels.file_version(args.out)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {args.out} ({args.out.stat().st_size} bytes, version {results['shipped']['version']}) and {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
