"""Train the stone head (facet "stone") and check the rule-based attributes.

    python -m jewel_vision.training.train_stones [train] [--out jewel_vision/vision/weights/stone_head.npz]
    python -m jewel_vision.training.train_stones check-segmenter [--n 100]
    python -m jewel_vision.training.train_stones check-attributes

``train`` (fixed seed; the first run embeds ~4,500 images, ~25 min on 2 busy CPU cores;
embeddings are cached under var/cache, after which a run takes ~3.5 min and writes a
byte-identical file):

1. **gemstones** (``../shared/datasets/gemstones``, 68 classes of loose stones) with the
   publisher's ``split``: class ``Diamond`` -> ``diamond``, every other class ->
   ``coloured``. No class there is colourless apart from Diamond (Zircon and Topaz are
   the blue kinds, the quartzes are yellow/smoky/rutilated), and there is no pearl class.
   All 34 Diamond photos are on black; to keep the head from learning "black background =
   diamond", every training photo is also embedded on a swapped background (white, grey
   or black, the stone cut out by a border-colour mask): every Diamond photo 6 times, every
   third other photo once (only 25 of the 2,292 coloured-stone photos are on a dark background).
2. **jewelry-types, hand-labelled** (``vision/weights/stone_head_labels.csv``): 880
   catalogue photos looked at by eye on contact sheets (110 px thumbnails) and labelled
   none / diamond / pearl / coloured where it was clear (the rest left blank), plus the
   metal tone. Several kinds on one piece are ``;``-joined; the training label takes the
   first of pearl > coloured > diamond > none present. Split by group (manifest
   ``group_id`` joined with near-duplicates, embedding cosine >= 0.95), 30 % held out,
   stratified, fixed seed. Photos are cropped to the u2netp item box as at inference.
3. **drawn pieces** (this file, :func:`draw_piece`): plain metal (none), drawn pearls,
   drawn clear and coloured stones on rings/bars/discs; training only, never scored.

The head is a class-balanced softmax regression on the 1280-d Embedder vector, L2
chosen by 3-fold group cross-validation on the training side (macro-F1 on the
hand-labelled folds). Scored on the gemstones test split (diamond vs coloured) and on
the held-out hand-labelled photos (4 classes). Written as float16 ``.npz`` (< 1 MB).

``check-segmenter``: u2netp mask vs ring masks on ``ring-hands`` (IoU, whole image and a
crop around the ground-truth box). ``check-attributes``: metal-tone accuracy on drawn
pieces (masks from the drawing and from u2netp) and on the hand-labelled photos.

No dataset image is copied anywhere; embeddings/masks are cached under var/cache.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

DATASETS = Path(os.environ.get("JEWEL_VISION_DATASETS", "../shared/datasets"))
CACHE_DIR = Path("var/cache/jewel_vision")
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "vision" / "weights"
LABELS_CSV = WEIGHTS_DIR / "stone_head_labels.csv"
CLASSES = ["none", "diamond", "pearl", "coloured"]
PRIORITY = ["pearl", "coloured", "diamond", "none"]
SEED = 0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Drawn pieces (synthetic; used for training "none"/"pearl" support and the tone check)
# ---------------------------------------------------------------------------------------
METAL_RGB = {
    "yellow": [(212, 175, 55), (230, 190, 80), (218, 165, 32), (207, 181, 59), (201, 166, 90), (240, 200, 100), (190, 150, 60)],
    "white": [(200, 200, 205), (229, 228, 226), (192, 192, 192), (170, 169, 173), (215, 215, 210), (185, 190, 195), (225, 225, 230)],
    "rose": [(214, 150, 130), (183, 110, 121), (224, 160, 140), (236, 178, 160), (200, 130, 110), (215, 140, 125), (230, 165, 150)],
}
BACKGROUNDS = {
    "white": [(255, 255, 255), (248, 248, 246), (240, 240, 240), (235, 236, 238)],
    "grey": [(200, 200, 200), (170, 172, 175), (120, 120, 122)],
    "skin": [(224, 172, 140), (198, 134, 66), (141, 85, 36), (255, 219, 172), (241, 194, 125), (232, 190, 170), (170, 120, 90)],
    "colour": [(60, 90, 160), (70, 140, 90), (30, 30, 30), (120, 20, 30), (230, 220, 200), (20, 40, 80), (250, 230, 235)],
}
STONE_RGB = {
    "red": (200, 20, 40), "blue": (30, 60, 190), "green": (20, 150, 60), "purple": (120, 40, 160),
    "clear": (235, 240, 250), "pearl": (240, 235, 225),
}


def _shade(rgb: Sequence[int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)  # type: ignore[return-value]


def draw_piece(
    tone: str, bg_kind: str, rng: random.Random, size: int = 256, stone: str | None = None, kind: str | None = None
) -> tuple[Image.Image, np.ndarray, np.ndarray, np.ndarray]:
    """A drawn metal piece with shading: (image, item mask, metal mask, stone mask)."""
    base = rng.choice(METAL_RGB[tone])
    bg = rng.choice(BACKGROUNDS[bg_kind])
    img = Image.new("RGB", (size, size), bg)
    if bg_kind == "skin":
        arr = np.asarray(img).astype(np.float32)
        xx = np.mgrid[0:size, 0:size][1]
        arr *= (0.9 + 0.15 * np.sin(xx / size * 3 + rng.random() * 6))[..., None]
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    metal = Image.new("L", (size, size), 0)
    md = ImageDraw.Draw(metal)
    d = ImageDraw.Draw(img)
    kind = kind or rng.choice(["ring", "band", "bar", "disc", "hoop"])
    c = size // 2
    if kind in ("ring", "hoop", "band"):
        r = rng.randint(int(size * 0.25), int(size * 0.38))
        ry = int(r * rng.uniform(0.6, 1.0))
        w = rng.randint(8, 22) if kind != "band" else rng.randint(22, 40)
        phase = rng.randint(0, 40)
        for a0 in range(0, 360, 6):
            f = 0.75 + 0.45 * math.cos(math.radians(a0 * 2 + phase))
            d.arc((c - r, c - ry, c + r, c + ry), a0, a0 + 7, fill=_shade(base, f), width=w)
        md.ellipse((c - r, c - ry, c + r, c + ry), outline=255, width=w)
        d.arc((c - r + w // 3, c - ry + w // 3, c + r - w // 3, c + ry - w // 3), 200, 240,
              fill=_shade(base, 1.5), width=max(2, w // 5))
    elif kind == "bar":
        x0, x1 = int(size * 0.1), int(size * 0.9)
        h = rng.randint(14, 30)
        for y in range(c - h // 2, c + h // 2):
            f = 0.7 + 0.6 * math.sin(math.pi * (y - (c - h // 2)) / h)
            d.line((x0, y, x1, y), fill=_shade(base, f))
        md.rectangle((x0, c - h // 2, x1, c + h // 2 - 1), fill=255)
    else:  # disc pendant
        r = rng.randint(int(size * 0.2), int(size * 0.32))
        for k in range(r, 0, -2):
            f = 0.7 + 0.5 * (1 - k / r)
            o = (r - k) // 3
            d.ellipse((c - k - o, c - k - o, c + k - o, c + k - o), fill=_shade(base, f))
        md.ellipse((c - r, c - r, c + r, c + r), fill=255)
    stone_m = Image.new("L", (size, size), 0)
    if stone:
        sd = ImageDraw.Draw(stone_m)
        n_stones = 1 if stone != "pearl" or rng.random() < 0.5 else rng.randint(2, 5)
        for i in range(n_stones):
            sr = rng.randint(12, 24)
            sx = c + (i - n_stones // 2) * (2 * sr + 2)
            sy = c - int(size * 0.3) if kind in ("ring", "hoop", "band") else c
            col = STONE_RGB[stone]
            if stone == "pearl":
                for k in range(sr, 0, -1):  # soft round shading with a highlight
                    f = 0.78 + 0.28 * (1 - k / sr)
                    d.ellipse((sx - k - (sr - k) // 3, sy - k - (sr - k) // 3, sx + k - (sr - k) // 3, sy + k - (sr - k) // 3),
                              fill=_shade(col, f))
            else:
                d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=col)
                facet = _shade(col, 0.6) if stone != "clear" else (150, 160, 180)
                for j in range(6):
                    a = j * math.pi / 3
                    d.line((sx, sy, sx + sr * math.cos(a), sy + sr * math.sin(a)), fill=facet, width=1)
            sd.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=255)
            md.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=0)
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    noise = np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 3, (size, size, 3))
    img = Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))
    sm = np.asarray(stone_m) > 127
    mm = np.asarray(metal) > 127
    return img, mm | sm, mm & ~sm, sm


def synthetic_training_set(n_per_class: int, seed: int) -> tuple[list[Image.Image], list[str]]:
    rng = random.Random(seed)
    images, labels = [], []
    for cls, stones in (("none", [None]), ("diamond", ["clear"]), ("pearl", ["pearl"]),
                        ("coloured", ["red", "blue", "green", "purple"])):
        for _ in range(n_per_class):
            tone = rng.choice(list(METAL_RGB))
            bg = rng.choice(["white", "white", "grey", "skin", "colour"])
            img = draw_piece(tone, bg, rng, stone=rng.choice(stones))[0]
            images.append(img)
            labels.append(cls)
    return images, labels


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: r["path"])


def gem_rows(data: Path) -> list[dict[str, str]]:
    rows = read_csv(data / "manifest.csv")
    for r in rows:
        r["label"] = "diamond" if r["gem_class"] == "Diamond" else "coloured"
    return rows


def labelled_jewelry(labels_csv: Path, data: Path) -> list[dict[str, str]]:
    """Hand-labelled jewelry-types rows joined with the manifest (group_id)."""
    manifest = {r["path"]: r for r in read_csv(data / "manifest.csv")}
    out = []
    for r in read_csv(labels_csv):
        if r["path"] not in manifest:
            raise SystemExit(f"{labels_csv}: {r['path']} is not in {data}/manifest.csv")
        row = dict(manifest[r["path"]])
        row["metal_tone"] = r["metal_tone"]
        row["stones"] = r["stones"]
        kinds = [k for k in r["stones"].split(";") if k]
        row["label"] = next((k for k in PRIORITY if k in kinds), "")
        out.append(row)
    return out


def border_mask(img: Image.Image) -> np.ndarray:
    """Foreground of a loose-stone photo on a plain background (distance to the border colour)."""
    from scipy import ndimage

    from jewel_vision.vision.attributes import rgb_to_lab

    lab = rgb_to_lab(np.asarray(img.convert("RGB")))
    bw = max(2, min(lab.shape[:2]) // 25)
    border = np.concatenate([lab[:bw].reshape(-1, 3), lab[-bw:].reshape(-1, 3), lab[:, :bw].reshape(-1, 3), lab[:, -bw:].reshape(-1, 3)])
    ref = np.median(border, axis=0)
    spread = np.percentile(np.linalg.norm(border - ref, axis=1), 90)
    fg = np.linalg.norm(lab - ref, axis=-1) > max(10.0, 2.5 * spread)
    fg = ndimage.binary_opening(fg, iterations=2)
    labels, n = ndimage.label(fg)
    if n == 0:
        return np.ones(fg.shape, bool)
    sizes = ndimage.sum(fg, labels, range(1, n + 1))
    keep = np.isin(labels, 1 + np.nonzero(sizes >= 0.2 * sizes.max())[0])
    return ndimage.binary_fill_holes(ndimage.binary_closing(keep, iterations=3))


def swap_background(img: Image.Image, rng: random.Random) -> Image.Image:
    img = img.convert("RGB")
    mask = border_mask(img)
    bg = rng.choice([(255, 255, 255), (245, 245, 245), (225, 225, 228), (180, 180, 182), (20, 20, 22), (0, 0, 0)])
    out = np.empty_like(np.asarray(img))
    out[...] = bg
    arr = np.asarray(img)
    out[mask] = arr[mask]
    soft = Image.fromarray(out).filter(ImageFilter.GaussianBlur(0.5))
    return soft


def jitter(img: Image.Image, rng: random.Random) -> Image.Image:
    """Flip, a crop keeping >= 80 % of each side, brightness/contrast +-15 % (no hue change)."""
    from PIL import ImageEnhance

    img = img.convert("RGB")
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    w, h = img.size
    cw, ch = int(w * rng.uniform(0.8, 1.0)), int(h * rng.uniform(0.8, 1.0))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    return ImageEnhance.Contrast(img).enhance(rng.uniform(0.85, 1.15))


# ---------------------------------------------------------------------------------------
# Caches
# ---------------------------------------------------------------------------------------
def _cache_path(kind: str, parts: dict) -> Path:
    key = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return CACHE_DIR / f"{kind}-{key}.npy"


def cached(kind: str, parts: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
    from .common import load_or_compute

    path = _cache_path(kind, parts)
    arr, seconds = load_or_compute(path, compute)
    if seconds is not None:
        log(f"  {kind}: {len(arr)} rows in {seconds:.0f}s -> {path}")
    return arr


MASK_SIDE = 256


def item_masks(paths: Sequence[Path], threads: int = 2) -> np.ndarray:
    """u2netp masks (uint8 [N, 256, 256], resized) for image files; cached per file."""
    from jewel_vision.vision.predictors.segmenter import ItemSegmenter

    seg = ItemSegmenter(threads=threads)
    store_path = CACHE_DIR / f"u2netp-masks-{seg.version}.npz"
    store: dict[str, np.ndarray] = {}
    if store_path.is_file():
        with np.load(store_path, allow_pickle=False) as data:
            store = dict(zip((str(k) for k in data["paths"]), data["masks"]))
    keys = [str(Path(p).resolve()) for p in paths]
    missing = [(k, p) for k, p in zip(keys, paths) if k not in store]
    if missing:
        t0 = time.perf_counter()
        for i, (k, p) in enumerate(missing):
            m = seg.segment([Image.open(p).convert("RGB")])[0]
            store[k] = np.asarray(Image.fromarray((m * 255).astype(np.uint8)).resize((MASK_SIDE, MASK_SIDE), Image.BILINEAR))
            if (i + 1) % 100 == 0:
                log(f"    masks {i + 1}/{len(missing)} ({time.perf_counter() - t0:.0f}s)")
        store_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = store_path.with_name(store_path.name + f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, paths=np.array(list(store)), masks=np.stack(list(store.values())))
        os.replace(tmp, store_path)
    return np.stack([store[k] for k in keys]) if keys else np.zeros((0, MASK_SIDE, MASK_SIDE), np.uint8)


def full_mask(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(small).resize(size, Image.BILINEAR)) >= 128


def embed_images(embedder, make: Callable[[int], Image.Image], n: int, chunk: int = 32) -> np.ndarray:
    out = []
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        imgs = [make(i) for i in range(start, min(n, start + chunk))]
        out.append(embedder.embed(imgs))
        if (start // chunk) % 10 == 9:
            log(f"    embedded {start + len(imgs)}/{n} ({(start + len(imgs)) / (time.perf_counter() - t0):.1f}/s)")
    return np.concatenate(out) if out else np.zeros((0, embedder.dim), np.float32)


# ---------------------------------------------------------------------------------------
# Splits, training, metrics
# ---------------------------------------------------------------------------------------
def merged_groups(groups: Sequence[str], emb: np.ndarray, threshold: float) -> list[str]:
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, g in enumerate(groups):
        if g in first:
            union(first[g], i)
        else:
            first[g] = i
    sims = emb @ emb.T
    for i, j in zip(*np.nonzero(np.triu(sims >= threshold, k=1))):
        union(int(i), int(j))
    return [f"g{find(i)}" for i in range(len(groups))]


def group_split(labels: Sequence[str], groups: Sequence[str], frac: float, seed: int) -> np.ndarray:
    """Boolean 'held out' per row: whole groups, ~frac of each class (by the group's majority label)."""
    rng = np.random.default_rng(seed)
    members: dict[str, list[str]] = defaultdict(list)
    for lab, g in zip(labels, groups):
        members[g].append(lab)
    glabel = {g: Counter(v).most_common(1)[0][0] for g, v in members.items()}
    held: set[str] = set()
    for lab in sorted(set(glabel.values())):
        gs = sorted(g for g, gl in glabel.items() if gl == lab)
        rng.shuffle(gs)
        target, taken = frac * sum(len(members[g]) for g in gs), 0
        for g in gs:
            if taken >= target:
                break
            held.add(g)
            taken += len(members[g])
    return np.array([g in held for g in groups])


def group_folds(labels: Sequence[str], groups: Sequence[str], k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    members: dict[str, list[str]] = defaultdict(list)
    for lab, g in zip(labels, groups):
        members[g].append(lab)
    glabel = {g: Counter(v).most_common(1)[0][0] for g, v in members.items()}
    fold: dict[str, int] = {}
    for lab in sorted(set(glabel.values())):
        gs = sorted(g for g, gl in glabel.items() if gl == lab)
        rng.shuffle(gs)
        for i, g in enumerate(gs):
            fold[g] = i % k
    return np.array([fold[g] for g in groups])


def train_softmax(
    x: np.ndarray, y: np.ndarray, n_classes: int, l2: float, seed: int, sample_weight: np.ndarray | None = None,
    epochs: int = 300, lr: float = 0.02, input_scale: float = 10.0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-batch class-balanced softmax regression (AdamW-free: Adam + explicit L2 on W)."""
    import torch

    torch.manual_seed(seed)
    xt = torch.from_numpy(np.asarray(x, np.float32) * input_scale)
    yt = torch.from_numpy(np.asarray(y, np.int64))
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    cw = torch.from_numpy((len(y) / (n_classes * np.maximum(counts, 1))).astype(np.float32))
    sw = torch.ones(len(y)) if sample_weight is None else torch.from_numpy(np.asarray(sample_weight, np.float32))
    lin = torch.nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    w_norm = (cw[yt] * sw).sum()
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        nll = torch.nn.functional.cross_entropy(lin(xt), yt, reduction="none")
        loss = (nll * cw[yt] * sw).sum() / w_norm + l2 * (lin.weight**2).sum()
        loss.backward()
        opt.step()
        sched.step()
    w = lin.weight.detach().numpy() * np.float32(input_scale)
    return [(w.astype(np.float32), lin.bias.detach().numpy().astype(np.float32))]


def proba(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    h = np.asarray(x, np.float32)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    h = h - h.max(1, keepdims=True)
    e = np.exp(h.astype(np.float64))
    return e / e.sum(1, keepdims=True)


def metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str], present_only: bool = True) -> dict:
    n = len(classes)
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    tp = np.diag(cm).astype(float)
    support = cm.sum(1).astype(float)
    pred = cm.sum(0).astype(float)
    prec = np.divide(tp, pred, out=np.zeros(n), where=pred > 0)
    rec = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(n), where=(prec + rec) > 0)
    present = support > 0 if present_only else np.ones(n, bool)
    return {
        "n": int(cm.sum()),
        "accuracy": float(tp.sum() / max(1, cm.sum())),
        "macro_f1": float(f1[present].mean()),
        "balanced_accuracy": float(rec[present].mean()),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, prec, rec, f1, support)},
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def format_metrics(m: dict) -> str:
    lines = [f"n {m['n']}  accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f} (classes present)  "
             f"balanced acc {m['balanced_accuracy']:.3f}",
             f"{'class':<10}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>6}"]
    for c in m["classes"]:
        p = m["per_class"][c]
        lines.append(f"{c:<10}{p['precision']:>7.3f}{p['recall']:>8.3f}{p['f1']:>7.3f}{p['support']:>6d}")
    lines.append("confusion (rows true, cols predicted): " + " ".join(c[:4] for c in m["classes"]))
    for c, row in zip(m["classes"], m["confusion"]):
        lines.append(f"  {c:<10}" + "".join(f"{v:>6d}" for v in row))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from jewel_vision.vision.predictors.embedder import Embedder
    from jewel_vision.vision.predictors.stones import crop_to_item, save_stone_head

    torch.set_num_threads(args.threads)
    t_start = time.time()
    gem_dir, jt_dir = Path(args.gems), Path(args.jewelry)
    embedder = Embedder(device="cpu", batch_size=32)
    emb_id = embedder.full_name

    # -- gemstones ---------------------------------------------------------------------------
    gems = gem_rows(gem_dir)
    gem_paths = [gem_dir / r["path"] for r in gems]
    gem_split = np.array([r["split"] for r in gems])
    gem_y = np.array([CLASSES.index(r["label"]) for r in gems])
    log(f"gemstones: {len(gems)} photos, train {int((gem_split == 'train').sum())}, test {int((gem_split == 'test').sum())}; "
        f"diamond {int((gem_y == 1).sum())}")
    gem_emb = cached("stones-gem", {"emb": emb_id, "paths": [str(p.resolve()) for p in gem_paths]},
                     lambda: embed_images(embedder, lambda i: Image.open(gem_paths[i]).convert("RGB"), len(gem_paths)))
    # background-swapped copies: every Diamond training photo x6, every 3rd other one x1
    # (only 25 of 2,292 coloured-stone photos are on a dark background, all Diamond ones are)
    aug_idx: list[int] = []
    for k, i in enumerate(np.nonzero(gem_split == "train")[0]):
        aug_idx += [int(i)] * (6 if gem_y[i] == 1 else int(k % 3 == 0))

    def make_gem_aug(k: int) -> Image.Image:
        i = aug_idx[k]
        rng = random.Random(f"{args.seed}-gem-{k}")
        return jitter(swap_background(Image.open(gem_paths[i]), rng), rng)

    gem_aug = cached("stones-gem-aug", {"emb": emb_id, "idx": aug_idx, "seed": args.seed, "v": 2},
                     lambda: embed_images(embedder, make_gem_aug, len(aug_idx)))

    # -- hand-labelled jewelry ------------------------------------------------------------------
    jt = [r for r in labelled_jewelry(Path(args.labels), jt_dir) if r["label"]]
    jt_paths = [jt_dir / r["path"] for r in jt]
    jt_y = np.array([CLASSES.index(r["label"]) for r in jt])
    log(f"hand-labelled jewelry: {len(jt)} photos {dict(Counter(r['label'] for r in jt))}")
    masks = item_masks(jt_paths)

    def jt_image(i: int) -> Image.Image:
        img = Image.open(jt_paths[i]).convert("RGB")
        return crop_to_item(img, full_mask(masks[i], img.size))

    jt_emb = cached("stones-jt", {"emb": emb_id, "paths": [str(p.resolve()) for p in jt_paths], "crop": "u2netp-box", "v": 1},
                    lambda: embed_images(embedder, jt_image, len(jt_paths)))
    groups = merged_groups([r["group_id"] for r in jt], jt_emb, 0.95)
    held = group_split([r["label"] for r in jt], groups, 0.3, args.seed)
    log(f"  split: train {int((~held).sum())}, held out {int(held.sum())} "
        f"({len(set(groups))} groups after joining near-duplicates)")
    jt_aug_idx = [int(i) for i in np.nonzero(~held)[0] for _ in range(args.aug_copies)]

    def make_jt_aug(k: int) -> Image.Image:
        return jitter(jt_image(jt_aug_idx[k]), random.Random(f"{args.seed}-jt-{k}"))

    jt_aug = cached("stones-jt-aug", {"emb": emb_id, "idx": jt_aug_idx, "seed": args.seed, "crop": "u2netp-box", "v": 1},
                    lambda: embed_images(embedder, make_jt_aug, len(jt_aug_idx)))

    # -- drawn -------------------------------------------------------------------------------------
    syn_imgs, syn_labels = synthetic_training_set(args.synthetic, args.seed)
    syn_emb = cached("stones-syn", {"emb": emb_id, "n": args.synthetic, "seed": args.seed, "v": 2},
                     lambda: embed_images(embedder, lambda i: syn_imgs[i], len(syn_imgs)))
    syn_y = np.array([CLASSES.index(c) for c in syn_labels])

    # -- assemble ------------------------------------------------------------------------------------
    gem_tr = gem_split == "train"
    parts = [
        ("gem", gem_emb[gem_tr], gem_y[gem_tr]),
        ("gem-aug", gem_aug, gem_y[aug_idx]),
        ("jt", jt_emb[~held], jt_y[~held]),
        ("jt-aug", jt_aug, jt_y[jt_aug_idx]),
        ("syn", syn_emb, syn_y),
    ]
    # source weights: the in-domain photos count more than loose stones and drawings
    source_weight = {"gem": 0.5, "gem-aug": 0.5, "jt": 1.0, "jt-aug": 1.0, "syn": 0.5}
    x_tr = np.concatenate([p[1] for p in parts])
    y_tr = np.concatenate([p[2] for p in parts])
    w_tr = np.concatenate([np.full(len(p[1]), source_weight[p[0]], np.float32) for p in parts])
    src = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
    log("training rows: " + ", ".join(f"{name} {len(p)}" for name, p, _ in parts)
        + f"; per class {dict(zip(CLASSES, np.bincount(y_tr, minlength=4).tolist()))}")

    # -- choose L2 by 3-fold group CV on the hand-labelled training photos ------------------------------
    tr_idx = np.nonzero(~held)[0]
    folds = group_folds([jt[i]["label"] for i in tr_idx], [groups[i] for i in tr_idx], 3, args.seed)
    fold_of_jt = dict(zip(tr_idx.tolist(), folds.tolist()))
    jt_src_index = np.concatenate([np.nonzero(~held)[0], np.array(jt_aug_idx, dtype=np.int64)])
    cv = {}
    for l2 in args.l2:
        preds, trues = [], []
        for f in range(3):
            keep = np.ones(len(x_tr), bool)
            jt_rows_mask = np.isin(src, ["jt", "jt-aug"])
            fold_rows = np.array([fold_of_jt[int(i)] == f for i in jt_src_index])
            keep[np.nonzero(jt_rows_mask)[0][fold_rows]] = False
            layers = train_softmax(x_tr[keep], y_tr[keep], 4, l2, args.seed, w_tr[keep], epochs=args.epochs)
            val = tr_idx[folds == f]
            preds += proba(layers, jt_emb[val]).argmax(1).tolist()
            trues += jt_y[val].tolist()
        cv[l2] = metrics(trues, preds, CLASSES)["macro_f1"]
        log(f"  L2 {l2:g}: CV macro-F1 {cv[l2]:.3f}")
    best_l2 = max(cv, key=lambda k: (cv[k], -k))
    layers = train_softmax(x_tr, y_tr, 4, best_l2, args.seed, w_tr, epochs=args.epochs)

    # -- evaluate -----------------------------------------------------------------------------------------
    gem_te = gem_split == "test"
    gem_pred = proba(layers, gem_emb[gem_te]).argmax(1)
    m_gem = metrics(gem_y[gem_te], gem_pred, CLASSES)
    jt_pred = proba(layers, jt_emb[held]).argmax(1)
    m_jt = metrics(jt_y[held], jt_pred, CLASSES)
    # multi-kind pieces: a prediction counts as right if it is any of the kinds present
    multi_ok = [CLASSES[p] in jt[i]["stones"].split(";") for i, p in zip(np.nonzero(held)[0], jt_pred)]
    log("\n== gemstones test split (publisher's; Diamond -> diamond, others -> coloured) ==\n" + format_metrics(m_gem))
    log("\n== hand-labelled jewelry, held-out groups ==\n" + format_metrics(m_jt))
    log(f"   any-kind-present accuracy {np.mean(multi_ok):.3f}")
    metadata = {
        "seed": args.seed,
        "embedder": emb_id,
        "input": "image cropped to the item mask box (+8 %), Embedder preprocessing",
        "l2": best_l2,
        "cv_macro_f1": {str(k): v for k, v in cv.items()},
        "training_rows": {name: int(len(p)) for name, p, _ in parts},
        "training_rows_per_class": dict(zip(CLASSES, np.bincount(y_tr, minlength=4).tolist())),
        "gemstones_test": {k: m_gem[k] for k in ("n", "accuracy", "macro_f1", "balanced_accuracy", "per_class", "confusion")},
        "jewelry_heldout": {k: m_jt[k] for k in ("n", "accuracy", "macro_f1", "balanced_accuracy", "per_class", "confusion")},
        "jewelry_heldout_any_kind_accuracy": float(np.mean(multi_ok)),
    }
    version = save_stone_head(args.out, layers, CLASSES, emb_id, metadata)
    size = Path(args.out).stat().st_size
    log(f"\nwrote {args.out} ({size / 1024:.0f} KiB), version {version}, in {time.time() - t_start:.0f}s")
    if args.metrics_out:
        Path(args.metrics_out).write_text(json.dumps(metadata, indent=1, sort_keys=True))


# ---------------------------------------------------------------------------------------
# check-segmenter
# ---------------------------------------------------------------------------------------
def cmd_check_segmenter(args: argparse.Namespace) -> None:
    from jewel_vision.vision.predictors.segmenter import ItemSegmenter

    root = Path(args.ring_hands)
    rows = [r for r in read_csv(root / "manifest.csv") if r["flag_possible_watch_or_bracelet"] == "0"]
    random.Random(args.seed).shuffle(rows)
    rows = rows[: args.n]
    seg = ItemSegmenter(threads=args.threads)

    def iou(p: np.ndarray, g: np.ndarray) -> float:
        u = (p | g).sum()
        return float((p & g).sum() / u) if u else 1.0

    whole, crop, fg, t_total = [], [], [], 0.0
    for r in rows:
        img = Image.open(root / r["path"]).convert("RGB")
        gt = np.asarray(Image.open(root / r["mask_path"]).convert("L")) > 127
        t0 = time.perf_counter()
        m = seg.segment([img])[0] > 0.5
        t_total += time.perf_counter() - t0
        whole.append(iou(m, gt))
        fg.append(float(m.mean()))
        W, H = img.size
        cx, cy, w, h = map(float, r["boxes_yolo_norm"].split()[:4])
        bw, bh = max(w * W * 2, 64), max(h * H * 2, 64)  # box doubled, at least 64 px
        x0, y0 = int(max(0, cx * W - bw / 2)), int(max(0, cy * H - bh / 2))
        x1, y1 = int(min(W, cx * W + bw / 2)), int(min(H, cy * H + bh / 2))
        mc = seg.segment([img.crop((x0, y0, x1, y1))])[0] > 0.5
        crop.append(iou(mc, gt[y0:y1, x0:x1]))
    print(json.dumps({
        "rows": len(rows), "ring_hands_whole_image_iou_mean": float(np.mean(whole)),
        "whole_image_iou_median": float(np.median(whole)),
        "crop_2x_box_iou_mean": float(np.mean(crop)), "crop_2x_box_iou_median": float(np.median(crop)),
        "crop_iou_ge_0.5": float(np.mean(np.array(crop) >= 0.5)),
        "mean_foreground_fraction_whole": float(np.mean(fg)),
        "ms_per_image_whole": 1000 * t_total / max(1, len(rows)),
    }, indent=1))


# ---------------------------------------------------------------------------------------
# check-attributes
# ---------------------------------------------------------------------------------------
TONES = ["yellow", "white", "rose"]


def _tone_report(trues: list[str], preds: list[str]) -> dict:
    out: dict = {"n": len(trues), "accuracy": float(np.mean([t == p for t, p in zip(trues, preds)])) if trues else 0.0}
    for t in TONES:
        sel = [p for tt, p in zip(trues, preds) if tt == t]
        out[t] = {"n": len(sel), "recall": float(np.mean([p == t for p in sel])) if sel else None,
                  "predicted_as": dict(Counter(sel))}
    return out


def cmd_check_attributes(args: argparse.Namespace) -> None:
    from jewel_vision.vision import attributes as A
    from jewel_vision.vision.predictors.segmenter import ItemSegmenter

    report: dict = {}
    # 1. drawn pieces, masks from the drawing and from u2netp
    rng = random.Random(args.seed + 101)
    trues, preds_gt, preds_seg = [], [], []
    seg = ItemSegmenter(threads=args.threads)
    per_bg: dict[str, list[bool]] = defaultdict(list)
    for tone in TONES:
        for bg in BACKGROUNDS:
            for k in range(args.synthetic_per_cell):
                stone = rng.choice([None, None, "red", "blue", "green", "clear", "pearl"])
                img, item, _, _ = draw_piece(tone, bg, rng, stone=stone)
                trues.append(tone)
                preds_gt.append(A.metal_tone(img, item)[0].value)
                if k < args.synthetic_seg_per_cell:
                    m = seg.segment([img])[0]
                    p = A.metal_tone(img, m)[0].value
                    preds_seg.append((tone, p))
                    per_bg[bg].append(p == tone)
    report["drawn_gt_mask"] = _tone_report(trues, preds_gt)
    report["drawn_u2netp_mask"] = _tone_report([t for t, _ in preds_seg], [p for _, p in preds_seg])
    report["drawn_u2netp_mask_by_background"] = {k: float(np.mean(v)) for k, v in per_bg.items()}
    # 2. hand-labelled photos (u2netp masks)
    jt_dir = Path(args.jewelry)
    rows = [r for r in labelled_jewelry(Path(args.labels), jt_dir) if r["metal_tone"] in TONES]
    paths = [jt_dir / r["path"] for r in rows]
    masks = item_masks(paths)
    trues, preds, halves = [], [], []
    t_tone = 0.0
    for r, p, m in zip(rows, paths, masks):
        # the thresholds in attributes.py were set on half 0 (groups hashed); half 1 is the check
        halves.append(int(hashlib.sha1(r["group_id"].encode()).hexdigest(), 16) % 2)
        img = Image.open(p).convert("RGB")
        mask = full_mask(m, img.size)
        t0 = time.perf_counter()
        tags = A.metal_tone(img, mask)
        t_tone += time.perf_counter() - t0
        trues.append(r["metal_tone"])
        preds.append(tags[0].value)
    report["hand_labelled_photos"] = _tone_report(trues, preds)
    for h, name in ((0, "calibration_half"), (1, "check_half")):
        report[f"hand_labelled_photos_{name}"] = _tone_report(
            [t for t, hh in zip(trues, halves) if hh == h], [p for p, hh in zip(preds, halves) if hh == h]
        )
    report["hand_labelled_ms_per_image"] = 1000 * t_tone / max(1, len(rows))
    # 3. the manifest's own material column (file-name derived), where it names a tone
    manifest = read_csv(jt_dir / "manifest.csv")
    tone_of = []
    for r in manifest:
        mat = r["material"].lower()
        if not mat:
            continue
        t = ("rose" if "rose" in mat else "white" if ("white" in mat or "silver" in mat)
             else "yellow" if "yellow" in mat else None)
        if t:
            tone_of.append((r, t))
    trues, preds = [], []
    if tone_of:
        mpaths = [jt_dir / r["path"] for r, _ in tone_of]
        mmasks = item_masks(mpaths)
        for (r, t), p, m in zip(tone_of, mpaths, mmasks):
            img = Image.open(p).convert("RGB")
            trues.append(t)
            preds.append(A.metal_tone(img, full_mask(m, img.size))[0].value)
    report["manifest_material_rows"] = _tone_report(trues, preds)
    print(json.dumps(report, indent=1))


# ---------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", nargs="?", default="train", choices=["train", "check-segmenter", "check-attributes"])
    p.add_argument("--gems", default=str(DATASETS / "gemstones"))
    p.add_argument("--jewelry", default=str(DATASETS / "jewelry-types"))
    p.add_argument("--ring-hands", default=str(DATASETS / "ring-hands"))
    p.add_argument("--labels", default=str(LABELS_CSV))
    p.add_argument("--out", default=str(WEIGHTS_DIR / "stone_head.npz"))
    p.add_argument("--metrics-out", default="")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--aug-copies", type=int, default=1)
    p.add_argument("--synthetic", type=int, default=40, help="drawn pieces per class for training")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--l2", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    p.add_argument("--n", type=int, default=100, help="check-segmenter: ring-hands rows")
    p.add_argument("--synthetic-per-cell", type=int, default=10)
    p.add_argument("--synthetic-seg-per-cell", type=int, default=3)
    args = p.parse_args(argv)
    {"train": cmd_train, "check-segmenter": cmd_check_segmenter, "check-attributes": cmd_check_attributes}[args.command](args)


if __name__ == "__main__":
    main()
