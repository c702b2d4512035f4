"""How far the type head adapts to a new shop from k of the shop's labelled photos.

    python -m jewel_vision.training.train_type --loso-heads var/loso      # once: the heads that left each source out
    python benchmarks/type_adaptation.py [--json benchmarks/results/type-adaptation.json]

The "new shop" is a source the built-in head never saw: its leave-one-source-out head
(``var/loso/type-head-without-<shop>.npz``) is the starting point, as the shipped head is for
a shop that installs us. The shop's photos are split into 5 folds by product (``group``, near-
duplicate photos joined, stratified by type); for each fold, k photos drawn from the other four folds are the shop's
labelled examples (:func:`jewel_vision.training.adapt.adapt_last_layer`, the method behind
``jewel-vision train facet type``) and the fold is scored (macro-F1 over the types present,
argmax: the head's own thresholds only decide what is shown). Reported: the mean over the folds.

Who decided what: the pull toward the built-in layer was chosen on ``princesegzy01`` (the
``--dev`` shop: every pull of ``--pulls`` is reported there); ``pcjeweller`` and
``people-parsing`` (``--report``: a shop's packshots and worn views; crops of street photos, with
``none`` crops of bare skin) are scored once, at the chosen pull, and decide nothing. The embeddings are those
``train_type`` caches (plain views: the photo, or the crop around a worn piece).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jewel_vision.training.adapt import ADAPT_PULL, adapt_last_layer
from jewel_vision.training.common import (
    DEFAULT_CACHE_DIR,
    NEAR_DUPLICATE_COSINE,
    merge_near_duplicates,
    stratified_group_folds,
)
from jewel_vision.training.data import default_data_root
from jewel_vision.training.train_type import CLASSES, embed_samples, present_metrics
from jewel_vision.training.type_sources import all_samples
from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.embedding_head import head_proba
from jewel_vision.vision.predictors.type_classifier import TypeClassifier

FOLDS = 5


def learning_curve(x: np.ndarray, y: np.ndarray, groups: list[str], base, budgets: list[int],
                   pull: float) -> dict[str, dict]:
    """k -> mean macro-F1 (and per fold) over the folds, adapting on k photos of the other folds."""
    # near-duplicate photos (a model shot reused across products) join one group, as in train_type
    merged, _ = merge_near_duplicates(groups, x, NEAR_DUPLICATE_COSINE)
    fold_of = stratified_group_folds([CLASSES[i] for i in y], merged, FOLDS, 0)
    out: dict[str, dict] = {}
    for k in budgets:
        f1s, accs, used = [], [], []
        for f in range(FOLDS):
            test, train = np.flatnonzero(fold_of == f), np.flatnonzero(fold_of != f)
            pick = train if k >= len(train) else np.random.default_rng(f).choice(train, k, replace=False)
            layers = base if k == 0 else adapt_last_layer(base, x[pick], y[pick], pull=pull)
            m = present_metrics(y[test], head_proba(layers, x[test]).argmax(1))
            f1s.append(m["macro_f1_present"])
            accs.append(m["accuracy"])
            used.append(len(pick) if k else 0)
        out[str(k)] = {"macro_f1": float(np.mean(f1s)), "accuracy": float(np.mean(accs)),
                       "macro_f1_per_fold": [round(v, 4) for v in f1s], "labelled_photos_per_fold": used}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--loso-dir", type=Path, default=Path("var/loso"))
    ap.add_argument("--dev", default="princesegzy01", help="the new shop that chooses the pull")
    ap.add_argument("--report", default="pcjeweller,people-parsing",
                    help="the new shops scored at the chosen pull (comma-separated)")
    ap.add_argument("--budgets", default="0,10,20,40,80,160")
    ap.add_argument("--pulls", default="0,0.0003,0.001,0.003")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    samples = all_samples(args.data_root or default_data_root(), composites=1500, ring_hands=500, seed=0)
    embedder = Embedder(device="cpu", batch_size=32)
    x_all = embed_samples(samples, embedder, 0, 0, DEFAULT_CACHE_DIR)
    budgets = [int(v) for v in args.budgets.split(",")]
    pulls = [float(v) for v in args.pulls.split(",")]

    def shop(name: str):
        idx = [i for i, s in enumerate(samples)  # the shop's own photos (not composites made of its pieces)
               if s.source == name and s.kind != "composite" and not np.isnan(x_all[i]).any()]
        head = TypeClassifier(args.loso_dir / f"type-head-without-{name}.npz")
        if head.classes != CLASSES:
            raise SystemExit(f"{head.path}: classes {head.classes} != {CLASSES}")
        y = np.array([CLASSES.index(samples[i].label) for i in idx])
        return x_all[idx], y, [samples[i].group for i in idx], head

    x, y, groups, head = shop(args.dev)
    dev_photos = len(y)
    dev = {f"{p:g}": learning_curve(x, y, groups, head.layers, budgets, p) for p in pulls}
    # the pull with the best mean macro-F1 over the budgets > 0 (ties: the stronger pull)
    chosen = max(pulls, key=lambda p: (np.mean([dev[f"{p:g}"][str(k)]["macro_f1"] for k in budgets if k]), p))
    for p in pulls:
        print(f"{args.dev} pull {p:g}: " + ", ".join(f"k={k} {dev[f'{p:g}'][str(k)]['macro_f1']:.3f}" for k in budgets))
    reported = {}
    for name in [r.strip() for r in args.report.split(",") if r.strip()]:
        x, y, groups, head_r = shop(name)
        curve = learning_curve(x, y, groups, head_r.layers, budgets, chosen)
        reported[name] = {"shop": name, "photos": len(y), "base_head": head_r.full_name, "pull": chosen, "curve": curve}
        print(f"{name} pull {chosen:g}: " + ", ".join(f"k={k} {curve[str(k)]['macro_f1']:.3f}" for k in budgets))
    report = {
        "what": __doc__.split("\n\n")[0],
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}",
        "method": "jewel_vision.training.adapt.adapt_last_layer (last layer fine-tuned, class-balanced, L2 pull to the built-in)",
        "folds": f"{FOLDS} per shop, by product (group), stratified by type; k photos drawn from the other folds (seed = fold)",
        "shipped_pull": ADAPT_PULL,
        "chosen_pull": chosen,
        "dev": {"shop": args.dev, "photos": dev_photos,
                "base_head": head.full_name, "by_pull": dev},
        "report": reported,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
