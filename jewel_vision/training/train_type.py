"""Train the item-type head (facet "type") on every source we have, and measure it as a new shop would.

    python -m jewel_vision.training.train_type [--data-root ../shared/datasets] \\
        [--out jewel_vision/vision/weights/type_head.npz] [--loso-only] [--seed 0]

The samples (:mod:`jewel_vision.training.type_sources`) are catalogue photos of three
shops (``princesegzy01``, ``tanishq``, ``pcjeweller``), crops around rings worn on
hands (``ring-hands``), crops around the jewelry and the bare skin of people in the
street (``people-parsing``; ``none`` is the class of "no jewelry here"), and composites
(a catalogue piece cut out and pasted where it is worn on a person).

1. **Leave one source out** (the headline): for each source, a head is trained on every
   other source (composites that hold any of its pixels are left out too) and scored on
   all of that source's photos. Its L2 strength and thresholds are chosen on the other
   sources' validation splits, so nothing about the held-out source decides anything.
2. **Shipped head**: each source's groups are split train / validation / test
   (60/20/20, stratified by label, seed fixed). The head trains on the training splits
   (plus composites made from training pieces); the L2 strength and the per-class
   thresholds are chosen on the validation splits; the test splits are read once, for
   the card, and decide nothing.

Training rows are balanced by source and by class (each (source, class) cell weighs the
same), and each photo gets augmented copies: flip and crop, background swap on packshots,
white balance / colour temperature, exposure, blur and JPEG.

No dataset image is copied anywhere; only embeddings are cached (under var/, git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np

from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.embedding_head import head_proba, save_head
from jewel_vision.vision.predictors.type_classifier import TypeClassifier

from .common import (
    DEFAULT_CACHE_DIR,
    NEAR_DUPLICATE_COSINE,
    cached_embeddings,
    confusion,
    log,
    merge_near_duplicates,
    metrics_from_confusion,
    stratified_group_split,
    train_head,
)
from .data import default_data_root
from .model_card import render_type_card
from .type_sources import NONE, PackshotGeometry, Sample, all_samples, augment_sample

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "vision" / "weights" / "type_head.npz"
EPOCHS = 300
CLASSES = ["bracelet", "earring", "necklace", "ring", "watch", NONE]
#: Sources scored one by one; composites are training material only.
SOURCES = ("princesegzy01", "tanishq", "pcjeweller", "ring-hands", "people-parsing")
#: Sources split train / validation / test: the scored ones, and photos of nothing.
SPLIT_SOURCES = (*SOURCES, "blank")
#: Bump a kind's recipe when the way its views are made changes: it keys the embedding cache.
RECIPES = {"packshot": "r1", "worn": "r2", "negative": "r2", "composite": "r2"}
#: Heads tried (L2 strength, hidden units; 0 = softmax regression), chosen on validation.
HEAD_GRID = ((1e-4, 0), (1e-3, 0), (1e-2, 0), (1e-3, 256))


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




# ---------------------------------------------------------------------------------------
# embeddings of every sample (plain view, and augmented copies)
# ---------------------------------------------------------------------------------------
def _rng(seed: int, key: str, copy: int) -> np.random.Generator:
    return np.random.default_rng([seed, copy, int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)])


def embed_samples(samples: list[Sample], embedder, copy: int, seed: int, cache_dir: Path,
                  chunk: int = 256, geometry: PackshotGeometry = PackshotGeometry()) -> np.ndarray:
    """[N, D] embeddings of copy ``copy`` (0: the plain view); NaN rows where a sample failed.

    Cached by chunks of one (kind, source) block each, so changing one source's samples
    re-embeds that block only.
    """
    out = np.full((len(samples), embedder.dim), np.nan, np.float32)
    blocks: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(samples):
        blocks.setdefault((s.kind, s.source), []).append(i)
    for (kind, source), members in blocks.items():
        for start in range(0, len(members), chunk):
            rows = members[start : start + chunk]
            out[rows] = _embed_chunk([samples[i] for i in rows], embedder, copy, seed, cache_dir, geometry)
        log(f"  copy {copy}: {kind}/{source} ({len(members)})")
    return out


def recipe_key(kind: str, geometry: PackshotGeometry = PackshotGeometry()) -> str:
    """What keys a kind's cached views: its recipe, and the extra geometry packshots get."""
    return f"{RECIPES[kind]}+{geometry.key}" if kind == "packshot" and geometry.key else RECIPES[kind]


def make_views(part: list[Sample], copy: int, seed: int,
               geometry: PackshotGeometry = PackshotGeometry()) -> tuple[list, np.ndarray]:
    """The images of copy ``copy`` (0: plain) of ``part``, and which samples could be made."""
    imgs, ok = [], []
    for s in part:
        rng = _rng(seed, s.key, copy)
        try:
            img = s.make(rng)
            imgs.append(augment_sample(s, img, rng, geometry) if copy else img)
            ok.append(True)
        except Exception as exc:  # noqa: BLE001 - a sample that cannot be made is left out
            log(f"    skipped {s.key}: {exc}")
            ok.append(False)
    return imgs, np.array(ok, bool)


def _embed_chunk(part: list[Sample], embedder, copy: int, seed: int, cache_dir: Path,
                 geometry: PackshotGeometry = PackshotGeometry()) -> np.ndarray:
    def compute() -> np.ndarray:
        imgs, ok = make_views(part, copy, seed, geometry)
        out = np.full((len(part), embedder.dim), np.nan, np.float32)
        if imgs:
            out[ok] = embedder.embed(imgs)
        return out

    key = {"what": "type-samples", "recipe": recipe_key(part[0].kind, geometry), "embedder": embedder.full_name,
           "pre": repr(embedder.preprocessing), "copy": copy, "seed": seed, "keys": [s.key for s in part]}
    return cached_embeddings(cache_dir, key, compute)


# ---------------------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------------------
def split_samples(samples: list[Sample], groups: list[str], seed: int) -> list[str]:
    """"train" / "val" / "test" per sample: by group, within each source, stratified by label.

    A composite goes where its piece's group went (never "val" or "test": composites are
    training material); composites of validation or test pieces are not used ("unused"),
    nor composites on a ring-hands hand whose own crops are validation or test.
    """
    split = ["unused"] * len(samples)
    for source in SPLIT_SOURCES:
        idx = [i for i, s in enumerate(samples) if s.kind != "composite" and s.source == source]
        if not idx:
            continue
        labels = [samples[i].label for i in idx]
        grp = [groups[i] for i in idx]
        rest, test = stratified_group_split(labels, grp, 0.2, seed)
        rest_labels = [labels[j] for j in rest]
        rest_groups = [grp[j] for j in rest]
        train, val = stratified_group_split(rest_labels, rest_groups, 0.25, seed + 1)
        for j in test:
            split[idx[j]] = "test"
        for j in val:
            split[idx[rest[j]]] = "val"
        for j in train:
            split[idx[rest[j]]] = "train"
    piece_split = {samples[i].group.partition(":")[2]: split[i] for i in range(len(samples))
                   if samples[i].kind == "packshot"}
    host_split = {samples[i].group: split[i] for i in range(len(samples)) if samples[i].kind != "composite"}
    for i, s in enumerate(samples):
        if s.kind == "composite":
            piece_group = s.group.removeprefix("comp:").partition(":")[2]
            host_ok = not _host_decides_split(s) or host_split.get(s.host, "train") == "train"
            split[i] = "train" if piece_split.get(piece_group) == "train" and host_ok else "unused"
    return split


def _host_decides_split(s: Sample) -> bool:
    """Whether a composite's host photo decides its split too: the ring-hands hands do (their
    ring crops are scored in their own split). people-parsing hosts do not, as in every head
    shipped so far: they wear no jewelry, so only a ``none`` crop of theirs is ever scored."""
    return s.host.startswith("rh:")


def row_weights(cells: list[tuple[str, str]]) -> np.ndarray:
    """Each (source, class) cell weighs the same in the loss; mean weight 1."""
    counts = Counter(cells)
    w = np.array([1.0 / counts[c] for c in cells], np.float64)
    return (w * len(w) / w.sum()).astype(np.float32)


def _cell(s: Sample) -> tuple[str, str]:
    return ("composite" if s.kind == "composite" else s.source, s.label)


# ---------------------------------------------------------------------------------------
# fitting and scoring
# ---------------------------------------------------------------------------------------
def present_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, and macro-F1 over the classes present in the truth (abstaining as ``none`` is a miss)."""
    m = metrics_from_confusion(confusion(y_true, y_pred, len(CLASSES)), CLASSES)
    present = [c for c in CLASSES if m["per_class"][c]["support"] > 0]
    m["macro_f1_present"] = float(np.mean([m["per_class"][c]["f1"] for c in present])) if present else None
    m["present_classes"] = present
    return m


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int):
    """Train on (x, y, w) for each head of ``HEAD_GRID``; keep the best on validation macro-F1."""
    best = None
    scores = {}
    for l2, hidden in HEAD_GRID:
        layers = train_head(x, y, len(CLASSES), l2=l2, hidden=hidden, epochs=EPOCHS, seed=seed, sample_weights=w)
        m = present_metrics(y_val, head_proba(layers, x_val).argmax(1))
        name = f"l2={l2:g}" + (f",hidden={hidden}" if hidden else "")
        scores[name] = m["macro_f1_present"]
        if best is None or m["macro_f1_present"] > best[0]:
            best = (m["macro_f1_present"], name, layers)
    return best[2], best[1], scores


def score(layers, x: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> dict:
    return score_probs(head_proba(layers, x), y, thresholds)


def score_probs(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> dict:
    """Metrics of class probabilities, with and without the per-class thresholds (abstention)."""
    top = probs.argmax(1)
    m = present_metrics(y, top)
    confident = (probs.max(1) >= thresholds[top]) & (top != CLASSES.index(NONE))
    decided = np.where(confident, top, CLASSES.index(NONE))
    m["with_abstention"] = {
        "coverage": float(confident.mean()),
        "accuracy_abstain_is_miss": float((decided == y).mean()),
        "precision_when_shown": float((top[confident] == y[confident]).mean()) if confident.any() else None,
        "macro_f1_present": present_metrics(y, decided)["macro_f1_present"],
    }
    return m


def _subsets(samples: list[Sample], rows: Rows, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of a scored set, all and by kind (packshot / worn / negative)."""
    out = {"all": idx}
    kinds = np.array([samples[i].kind for i in rows.sample[idx]])
    for kind in ("packshot", "worn", "negative"):
        sub = idx[kinds == kind]
        if len(sub) and len(sub) != len(idx):
            out[kind] = sub
    return out


def leave_one_source_out(samples: list[Sample], groups: list[str], split: list[str], rows: "Rows",
                         seed: int, heads_dir: Path | None = None, embedder: str = "") -> dict:
    """Per source: a head trained and tuned on the others, scored on all of its photos."""
    report = {}
    group_sources: dict[str, set[str]] = {}
    for s, g in zip(samples, groups):
        group_sources.setdefault(g, set()).update(s.sources)
    for held in SOURCES:
        # A group (near-duplicates joined) holding any photo of the held-out source is left
        # out of training, and so is every composite made with its pixels.
        keep = np.array([held not in s.sources and held not in group_sources[g] for s, g in zip(samples, groups)])
        sample_split = np.array(split)
        train = rows.select(keep & np.isin(sample_split, ["train", "test"]))
        val = rows.select(keep & (sample_split == "val"), plain_only=True)
        scored = rows.select(np.array([s.source == held and s.kind != "composite" for s in samples]), plain_only=True)
        if not len(scored):
            continue
        w = row_weights([_cell(samples[i]) for i in rows.sample[train]])
        layers, l2, scores = fit(rows.x[train], rows.y[train], w, rows.x[val], rows.y[val], seed)
        thresholds, _ = choose_thresholds(head_proba(layers, rows.x[val]), rows.y[val], CLASSES, 0.9)
        if heads_dir is not None:  # to run the whole pipeline with a head that never saw ``held``
            save_head(heads_dir / f"type-head-without-{held}.npz", layers, CLASSES, thresholds, embedder,
                      {"task": "jewelry item type", "left_out_source": held})
        report[held] = {
            "train_rows": int(len(train)), "val_rows": int(len(val)), "l2": l2, "val_macro_f1_by_l2": scores,
            **{name: score(layers, rows.x[r], rows.y[r], thresholds) | {"n": int(len(r))}
               for name, r in _subsets(samples, rows, scored).items()},
        }
        r = report[held]["all"]
        log(f"LOSO {held:15s} n={len(scored):4d} accuracy {r['accuracy']:.3f} macro-F1 {r['macro_f1_present']:.3f} "
            f"(shown {r['with_abstention']['coverage']:.2f}, precision there {r['with_abstention']['precision_when_shown']})")
    return report


def score_baseline(path: Path, samples: list[Sample], rows: "Rows") -> dict:
    """Another head (e.g. the one shipped before) on every source's plain views, scored alike.

    Only sources it never trained on say anything about a new shop."""
    head = TypeClassifier(path)
    their = [CLASSES.index(c) for c in head.classes]
    thresholds = np.ones(len(CLASSES), np.float32)
    for c, t in head.thresholds.items():
        thresholds[CLASSES.index(c)] = t
    out = {"head": head.full_name,
           "trained_on": sorted({k.partition("/")[0] for k in head.metadata.get("samples", {})})}
    for source in SOURCES:
        idx = rows.select(np.array([s.source == source and s.kind != "composite" for s in samples]), plain_only=True)
        if not len(idx):
            continue
        out[source] = {}
        for name, r in _subsets(samples, rows, idx).items():
            probs = np.zeros((len(r), len(CLASSES)), np.float32)
            probs[:, their] = head.predict_proba(rows.x[r])
            out[source][name] = score_probs(probs, rows.y[r], thresholds) | {"n": int(len(r))}
    return out


class Rows:
    """The embedded views: plain ones and augmented copies, each pointing at its sample."""

    def __init__(self, samples: list[Sample], views: list[np.ndarray]) -> None:
        xs, idx, copy = [], [], []
        for c, v in enumerate(views):
            ok = ~np.isnan(v).any(1)
            xs.append(v[ok])
            idx.append(np.nonzero(ok)[0])
            copy.append(np.full(int(ok.sum()), c > 0))
        self.x = np.concatenate(xs)
        self.sample = np.concatenate(idx)
        self.is_copy = np.concatenate(copy)
        self.y = np.array([CLASSES.index(samples[i].label) for i in self.sample], np.int64)

    def select(self, sample_mask: np.ndarray, plain_only: bool = False) -> np.ndarray:
        chosen = sample_mask[self.sample]
        if plain_only:
            chosen &= ~self.is_copy
        return np.nonzero(chosen)[0]


# ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jewel_vision.training.train_type",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding the data sets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="head weights file to write (.npz)")
    parser.add_argument("--card", type=Path, default=None, help="model card (default: MODEL_CARD.md next to --out; '-': none)")
    parser.add_argument("--report", type=Path, default=Path("benchmarks/results/type-head-loso.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--composites", type=int, default=1500)
    parser.add_argument("--ring-hands", type=int, default=500)
    parser.add_argument("--hand-composites", type=int, default=0,
                        help="bracelets composited on the wrists of ring-hands photos (600 tried on 2026-12-05, not shipped)")
    parser.add_argument("--copies", type=int, default=1, help="augmented copies of each photo")
    parser.add_argument("--zoom-out", type=float, default=0.0,
                        help="probability of a packshot copy's zoom-out (0.5 tried on 2026-12-05, not shipped)")
    parser.add_argument("--flatten", type=float, default=0.0,
                        help="probability of a packshot copy's vertical squash (a lower camera; 0.5 and 1.0 tried on 2026-12-05, not shipped)")
    parser.add_argument("--precision-target", type=float, default=0.9)
    parser.add_argument("--dedup-threshold", type=float, default=NEAR_DUPLICATE_COSINE)
    parser.add_argument("--loso-only", action="store_true", help="measure only; write no head")
    parser.add_argument("--loso-heads", type=Path, default=None,
                        help="also write each leave-one-source-out head here (for `jewel-vision eval --type-head`)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also score this head file on every source (e.g. the previous shipped head)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many samples per source and kind (smoke runs)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    root = args.data_root or default_data_root()
    samples = all_samples(root, composites=args.composites, ring_hands=args.ring_hands,
                          hand_composites=args.hand_composites, seed=args.seed)
    if args.limit:
        seen: Counter = Counter()
        kept = []
        for s in samples:
            cell = (s.source, s.kind, s.label)
            if seen[cell] < args.limit:
                seen[cell] += 1
                kept.append(s)
        samples = kept
    log(f"{len(samples)} samples: " + ", ".join(f"{k} {v}" for k, v in Counter(
        f"{s.source if s.kind != 'composite' else 'composite'}/{s.label}" for s in samples).most_common()))
    embedder = Embedder(device=args.device, batch_size=32)
    plain = embed_samples(samples, embedder, 0, args.seed, args.cache_dir)
    geometry = PackshotGeometry(zoom_out=args.zoom_out, flatten=args.flatten)
    copies = [embed_samples(samples, embedder, c, args.seed, args.cache_dir, geometry=geometry)
              for c in range(1, args.copies + 1)]
    valid = ~np.isnan(plain).any(1)
    rows = Rows(samples, [plain, *copies])

    # near-duplicates (also across shops: pcjeweller photos appear in jewelry-types) join one group
    base = np.where(valid[:, None], plain, 0).astype(np.float32)
    groups, links = merge_near_duplicates([s.group for s in samples], base, args.dedup_threshold)
    split = split_samples(samples, groups, args.seed)
    log(f"splits: {dict(Counter(split))}; {links} near-duplicate links")

    if args.loso_heads:
        args.loso_heads.mkdir(parents=True, exist_ok=True)
    loso = leave_one_source_out(samples, groups, split, rows, args.seed, args.loso_heads, embedder.full_name)
    report: dict = {"leave_one_source_out": loso,
                    "recipe": {k: getattr(args, k) for k in ("composites", "hand_composites", "ring_hands",
                                                              "copies", "zoom_out", "flatten", "seed")}}
    if args.baseline:
        report["baseline"] = score_baseline(args.baseline, samples, rows)

    if not args.loso_only:
        sample_split = np.array(split)
        train = rows.select(sample_split == "train")
        val = rows.select(sample_split == "val", plain_only=True)
        test = rows.select(sample_split == "test", plain_only=True)
        w = row_weights([_cell(samples[i]) for i in rows.sample[train]])
        layers, l2, l2_scores = fit(rows.x[train], rows.y[train], w, rows.x[val], rows.y[val], args.seed)
        val_probs = head_proba(layers, rows.x[val])
        thresholds, threshold_info = choose_thresholds(val_probs, rows.y[val], CLASSES, args.precision_target)
        validation = score(layers, rows.x[val], rows.y[val], thresholds)
        tests = {}
        for source in SPLIT_SOURCES:
            r_src = test[[samples[i].source == source for i in rows.sample[test]]]
            if len(r_src):
                tests[source] = {name: score(layers, rows.x[r], rows.y[r], thresholds) | {"n": int(len(r))}
                                 for name, r in _subsets(samples, rows, r_src).items()}
        metadata = {
            "task": "jewelry item type",
            "trained_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
            "classes": CLASSES,
            "samples": dict(Counter(f"{s.source if s.kind != 'composite' else 'composite'}/{s.label}"
                                    for s, ok in zip(samples, valid) if ok)),
            "split": {"method": "per source, by group (near-duplicates joined, also across shops), "
                                "stratified by label: 60 % train / 20 % validation / 20 % test",
                      "seed": args.seed, "rows": dict(Counter(split)),
                      # jewelry-types photos per split (held-out manifests, the stamp gate's split)
                      "validation_paths": _catalogue_paths(samples, split, "val"),
                      "test_paths": _catalogue_paths(samples, split, "test")},
            "decisions": {"l2": f"head shape and L2 strength: validation splits (macro-F1: {l2_scores})",
                          "thresholds": f"validation splits, precision target {args.precision_target}",
                          "test": "read once, for this card; decides nothing"},
            "training": {"head": "softmax regression on the L2-normalised embedding",
                         "loss": "cross-entropy, each (source, class) cell weighted equally, + L2",
                         "l2": l2, "copies": args.copies, "zoom_out": args.zoom_out, "flatten": args.flatten,
                         "composites": args.composites, "hand_composites": args.hand_composites,
                         "ring_hands": args.ring_hands, "epochs": EPOCHS,
                         "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}"},
            "validation": validation,
            "thresholds": threshold_info,
            "test": tests,
            "leave_one_source_out": loso,
            "baseline": report.get("baseline", {}),
        }
        version = save_head(args.out, layers, CLASSES, thresholds, embedder.full_name, metadata)
        check = TypeClassifier(args.out).predict_proba(rows.x[val])
        assert np.allclose(check, val_probs, atol=1e-5), "saved head does not reproduce validation scores"
        report |= {"head": version, "validation": validation, "test": tests, "thresholds": threshold_info}
        log(f"type head {version} -> {args.out}")
        for source, r in tests.items():
            a = r["all"]
            log(f"test {source:15s} n={r['all']['n']:4d} accuracy {a['accuracy']:.3f} macro-F1 {a['macro_f1_present']:.3f}")
        card = args.card if args.card is not None else args.out.with_name("MODEL_CARD.md")
        if str(card) != "-":
            card.write_text(render_type_card(version, embedder.full_name, metadata, loso,
                                             args.out.stat().st_size), encoding="utf-8")
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1, default=float) + "\n")
    log(f"report -> {args.report} ({report['seconds']:.0f}s)")
    return 0


def _catalogue_paths(samples: list[Sample], split: list[str], which: str) -> list[str]:
    return sorted(s.key.partition(":")[2] for s, sp in zip(samples, split) if sp == which and s.key.startswith("jt:"))


if __name__ == "__main__":
    raise SystemExit(main())
