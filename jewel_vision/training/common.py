"""Shared helpers for training scripts: manifest reading, group-aware splits,
augmentation, cached embeddings, a small softmax head trainer and metrics (the
head's forward pass is the shipped one: ``vision/predictors/embedding_head.head_proba``).

Nothing here imports Django. Dataset images are only ever read from the
dataset folder (``../shared/datasets/...``); nothing is copied into the repo.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageEnhance

from jewel_vision.vision.image_io import load_image

DEFAULT_DATA_DIR = Path("../shared/datasets/jewelry-types")
DEFAULT_CACHE_DIR = Path("var/cache/jewel_vision")


def log(msg: str) -> None:
    """Progress for people: to stderr, at once (stdout is kept for results)."""
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def read_manifest(data_dir: Path, label_key: str = "type") -> list[dict[str, str]]:
    manifest = Path(data_dir) / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"manifest not found: {manifest} (pass --data DIR)")
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(label_key)]
    rows.sort(key=lambda r: r["path"])  # deterministic order, independent of the CSV's
    return rows


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


#: Cosine of two embeddings at/above which two photos count as the same photo (re-published,
#: resized, re-encoded) and join one group in every split.
NEAR_DUPLICATE_COSINE = 0.97


def merge_near_duplicates(
    group_ids: Sequence[str], embeddings: np.ndarray, threshold: float
) -> tuple[list[str], int]:
    """Put images whose embeddings have cosine >= threshold into one group.

    The manifest's group_id only links views its publisher grouped; the same
    product photo re-published (resized, re-encoded, mirrored) would otherwise
    land on both sides of the split and flatter the validation figure.
    Returns the new group ids and the number of extra links made.
    """
    n = len(group_ids)
    uf = UnionFind(n)
    first: dict[str, int] = {}
    for i, g in enumerate(group_ids):
        if g in first:
            uf.union(first[g], i)
        else:
            first[g] = i
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -1.0)
    links = 0
    for i, j in zip(*np.nonzero(np.triu(sims >= threshold, k=1))):
        if uf.find(int(i)) != uf.find(int(j)):
            links += 1
        uf.union(int(i), int(j))
    return [f"g{uf.find(i)}" for i in range(n)], links


def _group_labels(labels: Sequence[str], groups: Sequence[str]) -> dict[str, str]:
    members: dict[str, list[str]] = defaultdict(list)
    for lab, g in zip(labels, groups):
        members[g].append(lab)
    return {g: Counter(labs).most_common(1)[0][0] for g, labs in members.items()}


def stratified_group_split(
    labels: Sequence[str], groups: Sequence[str], val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): every group wholly on one side, ~val_fraction of each class in val."""
    rng = np.random.default_rng(seed)
    group_label = _group_labels(labels, groups)
    sizes = Counter(groups)
    val_groups: set[str] = set()
    for lab in sorted(set(group_label.values())):
        gs = sorted(g for g, gl in group_label.items() if gl == lab)
        rng.shuffle(gs)
        target = val_fraction * sum(sizes[g] for g in gs)
        taken = 0
        for g in gs:
            if taken >= target:
                break
            val_groups.add(g)
            taken += sizes[g]
    is_val = np.array([g in val_groups for g in groups])
    return np.nonzero(~is_val)[0], np.nonzero(is_val)[0]


def stratified_group_folds(
    labels: Sequence[str], groups: Sequence[str], n_folds: int, seed: int, random_start: bool = True
) -> np.ndarray:
    """Fold number per item; groups dealt round-robin per class after shuffling.

    ``random_start``: each class's dealing starts at a random fold (else at fold 0, as the
    stone head's cross-validation was run).
    """
    rng = np.random.default_rng(seed)
    group_label = _group_labels(labels, groups)
    fold_of: dict[str, int] = {}
    for lab in sorted(set(group_label.values())):
        gs = sorted(g for g, gl in group_label.items() if gl == lab)
        rng.shuffle(gs)
        offset = int(rng.integers(n_folds)) if random_start else 0
        for k, g in enumerate(gs):
            fold_of[g] = (k + offset) % n_folds
    return np.array([fold_of[g] for g in groups])


# ---------------------------------------------------------------------------------------
# Augmentation (deterministic given the rng)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentSpec:
    flip: float = 0.5
    min_area: float = 0.55
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03


def augment(img: Image.Image, rng: np.random.Generator, spec: AugmentSpec = AugmentSpec()) -> Image.Image:
    """Horizontal flip, random resized crop (no final resize), colour jitter."""
    img = img.convert("RGB")
    if rng.random() < spec.flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    width, height = img.size
    for _ in range(10):
        area = width * height * rng.uniform(spec.min_area, 1.0)
        log_ratio = rng.uniform(np.log(spec.ratio[0]), np.log(spec.ratio[1]))
        aspect = float(np.exp(log_ratio))
        cw, ch = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < cw <= width and 0 < ch <= height:
            left = int(rng.integers(0, width - cw + 1))
            top = int(rng.integers(0, height - ch + 1))
            img = img.crop((left, top, left + cw, top + ch))
            break
    for enhancer, amount in (
        (ImageEnhance.Brightness, spec.brightness),
        (ImageEnhance.Contrast, spec.contrast),
        (ImageEnhance.Color, spec.saturation),
    ):
        if amount > 0:
            img = enhancer(img).enhance(float(rng.uniform(1 - amount, 1 + amount)))
    if spec.hue > 0:
        shift = int(round(rng.uniform(-spec.hue, spec.hue) * 255))
        if shift:
            h, s, v = img.convert("HSV").split()
            h = h.point(lambda x: (x + shift) % 256)
            img = Image.merge("HSV", (h, s, v)).convert("RGB")
    return img


# ---------------------------------------------------------------------------------------
# Cached embeddings
# ---------------------------------------------------------------------------------------
def cached_array(
    cache_dir: Path,
    kind: str,
    key_parts: dict,
    compute: Callable[[], np.ndarray],
) -> np.ndarray:
    """The array ``cache_dir/{kind}-{hash of key_parts}.npy``, computed and stored when missing."""
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{kind}-{key}.npy"
    arr, seconds = load_or_compute(path, compute)
    if seconds is None:
        log(f"  using cached {kind} {path}")
    else:
        log(f"  {kind}: {len(arr)} rows in {seconds:.1f}s -> {path}")
    return arr


def cached_embeddings(
    cache_dir: Path,
    key_parts: dict,
    compute: Callable[[], np.ndarray],
) -> np.ndarray:
    """Load embeddings from ``cache_dir`` if the key matches, else compute and store them."""
    return cached_array(cache_dir, "emb", key_parts, compute)


def load_or_compute(path: Path, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, float | None]:
    """The array cached at ``path``, else ``compute()`` written there atomically.

    Returns (array, seconds spent computing, or None when it came from the cache).
    """
    if path.is_file():
        return np.load(path), None
    t0 = time.perf_counter()
    arr = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, arr)
    os.replace(tmp, path)
    return arr, time.perf_counter() - t0


def embed_paths(
    embedder,
    paths: Sequence[Path],
    transform: Callable[[Image.Image, int], Image.Image] | None = None,
    chunk: int = 64,
) -> np.ndarray:
    """Embed images read from ``paths``; ``transform(img, index)`` is applied after decoding."""

    def make(i: int) -> Image.Image:
        img = load_image(paths[i])
        return img if transform is None else transform(img, i)

    return embed_images(embedder, make, len(paths), chunk)


def embed_images(embedder, make: Callable[[int], Image.Image], n: int, chunk: int = 64) -> np.ndarray:
    """Embed ``make(0) .. make(n - 1)`` in chunks of ``chunk`` images: [n, dim] float32."""
    out = []
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        imgs = [make(i) for i in range(start, min(start + chunk, n))]
        out.append(embedder.embed(imgs))
        done = start + len(imgs)
        if done % (chunk * 8) == 0 or done == n:
            rate = done / max(time.perf_counter() - t0, 1e-9)
            log(f"    {done}/{n} ({rate:.1f} img/s)")
    return np.concatenate(out, axis=0) if out else np.zeros((0, embedder.dim), np.float32)


# ---------------------------------------------------------------------------------------
# Head training
# ---------------------------------------------------------------------------------------
def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weights n / (C * count_c), as in scikit-learn's class_weight='balanced'."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return (len(y) / (n_classes * np.maximum(counts, 1))).astype(np.float32)


def train_head(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    l2: float,
    hidden: int = 0,
    epochs: int = 300,
    lr: float = 0.01,
    seed: int = 0,
    weights: np.ndarray | None = None,
    input_scale: float = 10.0,
    sample_weights: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-batch, class-weighted softmax regression (or 1-hidden-layer MLP) with Adam.

    The loss is the class-weighted mean cross-entropy plus ``l2/2 * ||W||^2`` over the
    weight matrices (not biases). Inputs are multiplied by ``input_scale`` while
    training (unit-norm embeddings otherwise need very large weights); the scale is
    folded into the first layer, so the returned head takes the raw L2-normalised
    embedding. Returns layers as (W [out, in], b [out]) float32 arrays. With
    ``sample_weights`` (one per row, e.g. to balance sources as well as classes) the
    loss is their weighted mean and the class weights are not applied.
    """
    import torch

    torch.manual_seed(seed)
    xt = torch.from_numpy(np.asarray(x, np.float32) * input_scale)
    yt = torch.from_numpy(np.asarray(y, np.int64))
    dim = xt.shape[1]
    if hidden:
        model = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(hidden, n_classes)
        )
    else:
        model = torch.nn.Sequential(torch.nn.Linear(dim, n_classes))
    if sample_weights is not None:
        sw = torch.from_numpy(np.asarray(sample_weights, np.float32))
        per_row = torch.nn.CrossEntropyLoss(reduction="none")

        def loss_fn(logits, target):
            return (per_row(logits, target) * sw).sum() / sw.sum()
    else:
        cw = torch.from_numpy(weights if weights is not None else class_weights(np.asarray(y), n_classes))
        loss_fn = torch.nn.CrossEntropyLoss(weight=cw)
    mats = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    model.train()
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        if l2:
            loss = loss + 0.5 * l2 * sum((w * w).sum() for w in mats)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    layers = []
    for module in model:
        if isinstance(module, torch.nn.Linear):
            layers.append((module.weight.detach().numpy().copy(), module.bias.detach().numpy().copy()))
    layers[0] = (layers[0][0] * np.float32(input_scale), layers[0][1])
    return layers


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------
def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str], present_only: bool = False) -> dict:
    """:func:`metrics_from_confusion` of class indices."""
    cm = confusion(np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64), len(classes))
    return metrics_from_confusion(cm, classes, present_only)


def metrics_from_confusion(cm: np.ndarray, classes: Sequence[str], present_only: bool = False) -> dict:
    """Accuracy, macro-F1, balanced accuracy, per-class figures and the confusion matrix.

    ``present_only``: macro-F1 and balanced accuracy average over the classes that occur in
    the true labels only (a test set that lacks a class, e.g. the gemstones' pearls).
    """
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    averaged = support > 0 if present_only else np.ones(len(tp), bool)
    return {
        "n": int(cm.sum()),
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[averaged].mean()),
        "balanced_accuracy": float(recall[averaged].mean()),
        "per_class": {
            c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def format_metrics(m: dict) -> str:
    classes = m["classes"]
    lines = [
        f"n {m['n']}   accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}   balanced acc {m['balanced_accuracy']:.4f}",
        "",
        f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}",
    ]
    for c in classes:
        pc = m["per_class"][c]
        lines.append(f"{c:<10} {pc['precision']:>9.3f} {pc['recall']:>7.3f} {pc['f1']:>6.3f} {pc['support']:>8d}")
    lines += ["", "confusion (rows = true, columns = predicted)", " " * 10 + "".join(f"{c[:8]:>9}" for c in classes)]
    for c, row in zip(classes, m["confusion"]):
        lines.append(f"{c:<10}" + "".join(f"{v:>9d}" for v in row))
    return "\n".join(lines)


def write_report(path: Path, report: dict) -> None:
    """An evaluation's figures as UTF-8 JSON (indented, a newline at the end), folders made as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {path}")


def iter_chunks(seq: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
