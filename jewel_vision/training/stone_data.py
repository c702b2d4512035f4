"""The stone head's data: the gemstones and hand-labelled jewelry rows, background swaps and
jitter for loose-stone photos, and u2netp item masks cached per file (``var/cache``).

No dataset image is copied anywhere.
"""

from __future__ import annotations

import csv
import os
import random
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from jewel_vision.vision.colour import rgb_to_lab
from jewel_vision.vision.predictors.segmenter import ItemSegmenter

from .common import DEFAULT_CACHE_DIR, log

__all__ = [
    "DATASETS", "LABELS_CSV", "border_mask", "full_mask", "gem_rows", "item_masks", "jitter", "labelled_jewelry",
    "read_csv", "swap_background",
]

DATASETS = Path(os.environ.get("JEWEL_VISION_DATASETS", "../shared/datasets"))
CACHE_DIR = DEFAULT_CACHE_DIR
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "vision" / "weights"
LABELS_CSV = WEIGHTS_DIR / "stone_head_labels.csv"
#: Several kinds on one piece: the training label is the first of these present.
PRIORITY = ["pearl", "coloured", "diamond", "none"]


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
MASK_SIDE = 256


def item_masks(paths: Sequence[Path], threads: int = 2) -> np.ndarray:
    """u2netp masks (uint8 [N, 256, 256], resized) for image files; cached per file."""
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

