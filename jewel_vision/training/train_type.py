"""Train the item-type head (facet "type") on the jewelry-types data set.

    python -m jewel_vision.training.train_type \\
        [--data ../shared/datasets/jewelry-types] \\
        [--out jewel_vision/vision/weights/type_head.npz] [--seed 0]

Steps:

1. read ``manifest.csv`` (path, type, ..., group_id, ...);
2. embed every photo with the pipeline's :class:`Embedder` (cached under
   ``var/cache/jewel_vision``, keyed by embedder version, preprocessing and file list);
3. join near-duplicate photos (embedding cosine >= ``--dedup-threshold``) into one
   group, on top of the manifest's ``group_id``;
4. split train/validation by group (stratified by type, ``--val-fraction``, fixed seed):
   no group is on both sides;
5. embed ``--aug-copies`` augmented copies of each training photo (flip, random
   resized crop, colour jitter; deterministic per seed/copy/photo; cached);
6. pick the L2 strength by 5-fold stratified group cross-validation on the training
   side only, then train a class-balanced softmax head on all of it;
7. on validation: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix,
   and per-class confidence thresholds (the lowest threshold >= 0.5 at which the top
   prediction's validation precision reaches ``--precision-target``);
   With ``--worn`` (default: ``ring-hands`` next to ``--data``), crops around the rings
   of the ring-hands *training* sessions (the detector's split, so its held-out
   sessions stay unseen) are added as ``ring`` rows, ``--worn-copies`` jittered crops
   each, cropped exactly as the pipeline crops worn pieces: packshots alone teach the
   head nothing about a ring on a finger. They are scored separately, on crops of the
   held-out sessions (ring recall);
8. optionally, a small out-of-domain check on ``../shared/datasets/ring-hands`` (rings
   worn on hands) and ``gemstones`` (loose stones: none of the classes);
9. write the head (``.npz``, < 1 MB) and ``MODEL_CARD.md`` next to it.

No dataset image is copied anywhere; only embeddings are cached (under var/, git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import platform
import time
from pathlib import Path

import numpy as np

from .common import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    AugmentSpec,
    augment,
    cached_embeddings,
    confusion,
    embed_paths,
    format_metrics,
    head_proba,
    log,
    merge_near_duplicates,
    metrics_from_confusion,
    read_manifest,
    stratified_group_folds,
    stratified_group_split,
    train_head,
)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "vision" / "weights" / "type_head.npz"
L2_GRID = (1e-4, 1e-3, 1e-2)
EPOCHS = 300


def choose_thresholds(
    probs: np.ndarray, y: np.ndarray, classes: list[str], target: float, floor: float = 0.5
) -> tuple[np.ndarray, dict]:
    """Per class: the lowest t >= floor where P(true = c | top = c, p_c >= t) >= target on validation.

    Falls back to the t with the best F1 of "top = c and p_c >= t" when the target is not reachable.
    """
    top = probs.argmax(axis=1)
    top_p = probs.max(axis=1)
    grid = np.round(np.arange(floor, 0.996, 0.01), 4)
    thresholds = np.zeros(len(classes), dtype=np.float32)
    info = {}
    for c, name in enumerate(classes):
        support = int((y == c).sum())
        best_f1, best_f1_t, chosen = -1.0, float(grid[-1]), None
        for t in grid:
            sel = (top == c) & (top_p >= t)
            n_sel = int(sel.sum())
            tp = int((sel & (y == c)).sum())
            precision = tp / n_sel if n_sel else 1.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            if f1 > best_f1:
                best_f1, best_f1_t = f1, float(t)
            if chosen is None and n_sel and precision >= target:
                chosen = float(t)
        rule = "precision_target"
        if chosen is None:
            chosen, rule = best_f1_t, "best_f1"
        sel = (top == c) & (top_p >= chosen)
        n_sel = int(sel.sum())
        tp = int((sel & (y == c)).sum())
        thresholds[c] = chosen
        info[name] = {
            "threshold": chosen,
            "rule": rule,
            "precision_at_threshold": (tp / n_sel) if n_sel else None,
            "recall_at_threshold": (tp / support) if support else None,
            "n_confident": n_sel,
        }
    return thresholds, info


def _sample_rows(manifest: Path, n: int, seed: int) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    if n and len(rows) > n:
        idx = np.sort(np.random.default_rng(seed).choice(len(rows), size=n, replace=False))
        rows = [rows[i] for i in idx]
    return rows


def out_of_domain(args, embedder, classes: list[str], layers, thresholds: np.ndarray) -> dict:
    """Cheap checks on the other shared data sets, when present."""
    report: dict = {}
    root = args.data.parent
    thr = np.asarray(thresholds)

    def predict(name: str, what: str, keep=lambda row: True):
        """(top class, confident?, top probability) for a sample of ``name``, or None."""
        manifest = root / name / "manifest.csv"
        if not (args.ood_sample and manifest.is_file()):
            return None
        paths = [manifest.parent / r["path"] for r in _sample_rows(manifest, args.ood_sample, args.seed) if keep(r)]
        log(f"out-of-domain: {len(paths)} {name} photos ({what})")
        emb = cached_embeddings(
            args.cache_dir,
            {"what": f"ood-{name}", "embedder": embedder.full_name, "pre": repr(embedder.preprocessing),
             "paths": [str(p) for p in paths]},
            lambda: embed_paths(embedder, paths),
        )
        probs = head_proba(layers, emb)
        top = probs.argmax(1)
        return top, probs.max(1) >= thr[top], probs.max(1)

    def counts(top: np.ndarray) -> dict[str, int]:
        return {classes[c]: int((top == c).sum()) for c in range(len(classes))}

    found = predict("ring-hands", "rings worn on hands", lambda r: r.get("flag_possible_watch_or_bracelet") != "1")
    if found is not None:
        top, confident, _ = found
        ring = classes.index("ring")
        report["ring_hands"] = {
            "n": len(top),
            "top1_ring": float(np.mean(top == ring)),
            "confident_ring": float(np.mean((top == ring) & confident)),
            "confident_wrong": float(np.mean((top != ring) & confident)),
            "predicted": counts(top),
        }
    found = predict("gemstones", "loose stones, none of the classes")
    if found is not None:
        top, confident, top_p = found
        report["gemstones"] = {
            "n": len(top),
            "confident_any": float(np.mean(confident)),
            "mean_top_probability": float(top_p.mean()),
            "predicted": counts(top),
        }
    return report


def worn_ring_crops(embedder, worn_dir: Path, args, key_base: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Embeddings of crops around worn rings: (training sessions x copies, held-out sessions, info).

    Crops are made like the pipeline's (``pipeline._crop`` around the box, context 1.6,
    at least 0.2 of the long side); training crops jitter the context (1.3-2.2) and
    the centre (+-15 % of the box). Wristwear-flagged rows are left out.
    """
    from jewel_vision.vision.pipeline import _crop

    from .data import read_ring_hands, split_ring_hands

    train_rows, val_rows = split_ring_hands(read_ring_hands(worn_dir.parent), seed=0)
    train_rows = [r for r in train_rows if not r.flagged and r.boxes]
    val_rows = [r for r in val_rows if not r.flagged and r.boxes]
    blocks = []
    for copy in range(args.worn_copies):
        def jittered(img, j, copy=copy):
            rng = np.random.default_rng([args.seed, 7, copy, j])
            x0, y0, x1, y1 = train_rows[j].boxes[0]
            dx, dy = rng.uniform(-0.15, 0.15, 2) * (x1 - x0, y1 - y0)
            crop = _crop(img, (x0 + dx, y0 + dy, x1 + dx, y1 + dy), float(rng.uniform(1.3, 2.2)), 0.2)
            return crop.transpose(0) if rng.random() < 0.5 else crop  # 0: FLIP_LEFT_RIGHT

        blocks.append(cached_embeddings(
            args.cache_dir,
            {**key_base, "what": "worn", "copy": copy, "seed": args.seed, "paths": [r.path for r in train_rows]},
            lambda jittered=jittered: embed_paths(embedder, [Path(r.path) for r in train_rows], jittered),
        ))
    held = cached_embeddings(
        args.cache_dir,
        {**key_base, "what": "worn-val", "paths": [r.path for r in val_rows]},
        lambda: embed_paths(embedder, [Path(r.path) for r in val_rows],
                            lambda img, j: _crop(img, val_rows[j].boxes[0], 1.6, 0.2)),
    )
    sessions = np.array([r.session for r in train_rows] * args.worn_copies, np.int64)
    info = {
        "dataset": worn_dir.name,
        "split": "the detector's: whole photo sessions, seed 0, 20 % of ring rows held out; wristwear rows left out",
        "train_photos": len(train_rows),
        "copies": args.worn_copies,
        "heldout_photos": len(val_rows),
        "_sessions": sessions,
    }
    return np.concatenate(blocks), held, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jewel_vision.training.train_type",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="folder with manifest.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="head weights file to write (.npz)")
    parser.add_argument("--card", type=Path, default=None, help="model card to write (default: MODEL_CARD.md next to --out; '-' for none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--aug-copies", type=int, default=2, help="augmented copies per training photo")
    parser.add_argument("--dedup-threshold", type=float, default=0.97, help="cosine at which photos count as one group")
    parser.add_argument("--precision-target", type=float, default=0.95)
    parser.add_argument("--ood-sample", type=int, default=300, help="photos per out-of-domain check (0 = skip)")
    parser.add_argument("--worn", type=Path, default=None,
                        help="ring-hands folder for worn-ring crops (default: ring-hands next to --data; 'none': skip)")
    parser.add_argument("--worn-copies", type=int, default=1, help="jittered crops per worn training photo")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args(argv)

    import torch

    from jewel_vision.vision.models.embedder import Embedder
    from jewel_vision.vision.models.type_classifier import TypeClassifier, save_head

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rng_seed = args.seed
    np.random.seed(rng_seed)
    torch.manual_seed(rng_seed)

    rows = read_manifest(args.data)
    labels = [r["type"] for r in rows]
    classes = sorted(set(labels))
    y = np.array([classes.index(t) for t in labels], dtype=np.int64)
    paths = [args.data / r["path"] for r in rows]
    rel_paths = [r["path"] for r in rows]
    log(f"{len(rows)} photos, classes {dict(zip(classes, np.bincount(y).tolist()))}")

    embedder = Embedder(device=args.device, batch_size=32)
    key_base = {"embedder": embedder.full_name, "pre": repr(embedder.preprocessing), "data": str(args.data.resolve())}
    log(f"embedding photos with {embedder.full_name} on {embedder.device}")
    base = cached_embeddings(
        args.cache_dir, {**key_base, "what": "plain", "paths": rel_paths}, lambda: embed_paths(embedder, paths)
    )

    groups, links = merge_near_duplicates([r["group_id"] for r in rows], base, args.dedup_threshold)
    n_groups = len(set(groups))
    log(f"groups: {len(set(r['group_id'] for r in rows))} in manifest, {n_groups} after joining "
        f"{links} near-duplicate links (cosine >= {args.dedup_threshold})")
    train_idx, val_idx = stratified_group_split(labels, groups, args.val_fraction, args.seed)
    assert not ({groups[i] for i in train_idx} & {groups[i] for i in val_idx}), "group on both sides"
    log(f"split: {len(train_idx)} train / {len(val_idx)} validation photos")

    spec = AugmentSpec()
    aug_blocks = []
    for copy in range(args.aug_copies):
        log(f"augmented copy {copy + 1}/{args.aug_copies} of the training photos")
        sub_paths = [paths[i] for i in train_idx]

        def transform(img, j, copy=copy):
            return augment(img, np.random.default_rng([args.seed, copy, int(train_idx[j])]), spec)

        aug_blocks.append(
            cached_embeddings(
                args.cache_dir,
                {**key_base, "what": "aug", "copy": copy, "seed": args.seed, "spec": repr(spec),
                 "paths": [rel_paths[i] for i in train_idx]},
                lambda sub_paths=sub_paths, transform=transform: embed_paths(embedder, sub_paths, transform),
            )
        )
    # Training matrix: plain + augmented copies; remember which photo each row came from.
    x_train = np.concatenate([base[train_idx], *aug_blocks])
    src_train = np.concatenate([train_idx] * (1 + len(aug_blocks)))
    y_train = y[src_train]
    x_val, y_val = base[val_idx], y[val_idx]

    worn_dir = args.worn if args.worn is not None else args.data.parent / "ring-hands"
    worn_info: dict = {}
    x_worn_val = np.zeros((0, base.shape[1]), np.float32)
    if str(worn_dir) != "none" and (worn_dir / "manifest.csv").is_file() and "ring" in classes:
        x_worn, x_worn_val, worn_info = worn_ring_crops(embedder, worn_dir, args, key_base)
        # Worn rows join the training side as extra "ring" rows. They carry a source index of
        # -1 - k so the L2 cross-validation below keeps each in one fold (by photo session).
        x_train = np.concatenate([x_train, x_worn])
        y_train = np.concatenate([y_train, np.full(len(x_worn), classes.index("ring"), np.int64)])
        src_train = np.concatenate([src_train, -1 - worn_info.pop("_sessions")])

    # Choose L2 by grouped CV on the training side only (validation stays untouched).
    folds_photo = stratified_group_folds([labels[i] for i in train_idx], [groups[i] for i in train_idx], 5, args.seed)
    fold_of = dict(zip(train_idx.tolist(), folds_photo.tolist()))
    row_fold = np.array([fold_of[int(i)] if i >= 0 else int(-1 - i) % 5 for i in src_train])
    is_plain = np.arange(len(src_train)) < len(train_idx)
    cv = {}
    for l2 in L2_GRID:
        pred = np.zeros(len(train_idx), dtype=np.int64)
        for k in range(5):
            fit = row_fold != k
            layers = train_head(x_train[fit], y_train[fit], len(classes), l2=l2, epochs=EPOCHS, seed=args.seed)
            held = (row_fold == k) & is_plain
            pred[folds_photo == k] = head_proba(layers, x_train[held]).argmax(1)
        m = metrics_from_confusion(confusion(y[train_idx], pred, len(classes)), classes)
        cv[str(l2)] = {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}
        log(f"  CV l2={l2:g}: macro-F1 {m['macro_f1']:.4f}, accuracy {m['accuracy']:.4f}")
    best_l2 = max(L2_GRID, key=lambda v: (round(cv[str(v)]["macro_f1"], 4), v))
    log(f"chosen l2={best_l2:g}")

    layers = train_head(x_train, y_train, len(classes), l2=best_l2, epochs=EPOCHS, seed=args.seed)
    val_probs = head_proba(layers, x_val)
    val_metrics = metrics_from_confusion(confusion(y_val, val_probs.argmax(1), len(classes)), classes)
    thresholds, threshold_info = choose_thresholds(val_probs, y_val, classes, args.precision_target)
    confident = val_probs.max(1) >= thresholds[val_probs.argmax(1)]
    coverage = float(confident.mean())
    confident_acc = float((val_probs.argmax(1) == y_val)[confident].mean()) if confident.any() else None

    ood = out_of_domain(args, embedder, classes, layers, thresholds)
    if len(x_worn_val):
        worn_pred = head_proba(layers, x_worn_val).argmax(1)
        worn_info["heldout_ring_recall"] = float((worn_pred == classes.index("ring")).mean())
        worn_info["heldout_predicted"] = {c: int((worn_pred == j).sum()) for j, c in enumerate(classes)}
        log(f"worn rings, held-out sessions: ring recall {worn_info['heldout_ring_recall']:.3f} "
            f"on {len(x_worn_val)} crops {worn_info['heldout_predicted']}")

    elapsed = time.perf_counter() - started
    metadata = {
        "task": "jewelry item type",
        "trained_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "data": {
            "dataset": args.data.name,
            "photos": len(rows),
            "per_class": dict(zip(classes, np.bincount(y).tolist())),
        },
        "split": {
            "method": "stratified by type, by group (manifest group_id joined with near-duplicates)",
            "seed": args.seed,
            "val_fraction": args.val_fraction,
            "dedup_threshold": args.dedup_threshold,
            "near_duplicate_links": links,
            "groups": n_groups,
            "train": len(train_idx),
            "validation": len(val_idx),
            "train_per_class": dict(zip(classes, np.bincount(y[train_idx], minlength=len(classes)).tolist())),
            "validation_per_class": dict(zip(classes, np.bincount(y_val, minlength=len(classes)).tolist())),
            "validation_paths": [rel_paths[i] for i in val_idx],
        },
        "training": {
            "head": "softmax regression on the L2-normalised 1280-d embedding",
            "loss": "class-weighted cross-entropy (balanced) + L2",
            "optimizer": f"Adam, full batch, {EPOCHS} epochs, lr 0.01 cosine",
            "l2": best_l2,
            "cv_l2_grid": cv,
            "augmentation": {"copies": args.aug_copies, "spec": repr(spec)},
            "seconds": round(elapsed, 1),
            "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}",
        },
        "validation": {
            "accuracy": val_metrics["accuracy"],
            "macro_f1": val_metrics["macro_f1"],
            "balanced_accuracy": val_metrics["balanced_accuracy"],
            "per_class": val_metrics["per_class"],
            "confusion": val_metrics["confusion"],
            "thresholds": threshold_info,
            "precision_target": args.precision_target,
            "confident_coverage": coverage,
            "confident_accuracy": confident_acc,
        },
        "out_of_domain": ood,
        "worn": worn_info,
    }
    version = save_head(args.out, layers, classes, thresholds, embedder.full_name, metadata)

    # Round-trip through the runtime class: what ships must score what we report.
    head = TypeClassifier(args.out)
    check = head.predict_proba(x_val)
    assert np.allclose(check, val_probs, atol=1e-5), "saved head does not reproduce validation scores"
    size = args.out.stat().st_size

    print(f"type head {version} -> {args.out} ({size / 1024:.0f} KiB)")
    print(f"split: {len(train_idx)} train / {len(val_idx)} validation photos, seed {args.seed}")
    print(format_metrics(val_metrics))
    print("\nthresholds (top prediction counts as confident at or above):")
    for name in classes:
        ti = threshold_info[name]
        prec = "n/a" if ti["precision_at_threshold"] is None else f"{ti['precision_at_threshold']:.3f}"
        rec = "n/a" if ti["recall_at_threshold"] is None else f"{ti['recall_at_threshold']:.3f}"
        print(f"  {name:<10} {ti['threshold']:.2f}  ({ti['rule']}; val precision {prec}, recall {rec})")
    print(f"confident on {coverage:.1%} of validation photos, accuracy there {confident_acc}")
    if ood:
        print("out of domain:", json.dumps(ood))
    print(f"took {elapsed:.0f}s")

    card = args.card if args.card is not None else args.out.with_name("MODEL_CARD.md")
    if str(card) != "-":
        from .model_card import render_type_card

        card.write_text(render_type_card(version, embedder.full_name, metadata, size), encoding="utf-8")
        print(f"model card -> {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
