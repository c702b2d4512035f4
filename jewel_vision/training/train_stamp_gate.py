"""Train the stamp gate: "is this photo a close-up of a stamp?" on the photo's embedding.

    python -m jewel_vision.training.train_stamp_gate [--out jewel_vision/vision/weights/stamp_gate.npz]
    jewel-vision train stamp-gate

Why: the text-detector gate alone passes ~10 % of catalogue photos (a chain or a bracelet
looks like a line of text to it), each costing a full read (~0.4 s), and misses ~4 % of
stamps. The embedding is computed for every photo anyway, so a linear head on it is free.

Data (fixed seeds; no dataset image is copied, embeddings are cached under var/cache):

* **stamps**: rendered by :mod:`jewel_vision.vision.stamps`, *tune* split only (the test
  split and its two held-out fonts stay unseen), each as rendered and as a "phone close-up"
  (zoomed out onto reflected metal, re-cropped, rescaled);
* **photos**: the training side of every split the other models use: jewelry-types photos
  outside the type head's validation set, ring-hands photos outside the detector's held-out
  sessions, gemstones of the publisher's train split.

Thresholds are chosen on a second set (other tune-split seeds, and 20 % of the training
photos' groups held back): ``low`` keeps 99.5 % of those stamps but is at most 0.01 (the
renders separate from photos almost perfectly; a real stamp unlike them should still reach
the text gate), ``high`` lets through at most 0.5 % of those photos (and is at least 0.5). Reported on the *test* stamps of ``eval_ocr`` and the held-out
photos of the other models (jewelry-types validation, ring-hands held-out sessions).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.embedding_head import head_proba, save_head
from jewel_vision.vision.predictors.stamp_gate import StampGate
from jewel_vision.vision.predictors.type_classifier import TypeClassifier
from jewel_vision.vision.stamps import make_stamp_set

from .common import cached_embeddings, embed_paths, log, train_head
from .data import default_data_root, read_ring_hands, split_ring_hands

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "vision" / "weights" / "stamp_gate.npz"
CACHE_DIR = Path("var/cache/jewel_vision/stamp_gate")
CLASSES = ["photo", "stamp"]
LOW_CAP = 0.01


def close_up(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A rendered stamp as a phone close-up: more metal around it, re-cropped and rescaled."""
    import cv2

    a = np.asarray(img.convert("RGB"))
    h, w = a.shape[:2]
    fx, fy = rng.uniform(0.15, 0.9), rng.uniform(0.2, 1.2)
    a = cv2.copyMakeBorder(a, int(h * fy), int(h * fy), int(w * fx), int(w * fx), cv2.BORDER_REFLECT_101)
    hh, ww = a.shape[:2]
    cw, ch = int(ww * rng.uniform(0.85, 1.0)), int(hh * rng.uniform(0.85, 1.0))
    x0, y0 = int(rng.integers(0, ww - cw + 1)), int(rng.integers(0, hh - ch + 1))
    a = a[y0 : y0 + ch, x0 : x0 + cw]
    scale = rng.uniform(1.0, 4.0)
    a = cv2.resize(a, (max(8, int(cw * scale)), max(8, int(ch * scale))), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.3:
        a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.5, 2.0))
    return Image.fromarray(a)


def stamp_images(n: int, seed: int, split: str, kinds: tuple[str, ...]) -> list[Image.Image]:
    """``n`` rendered stamps, each as ``kinds`` says: "rendered" and/or "close-up"."""
    out = []
    rng = np.random.default_rng(1000 + seed)
    for img, _text in make_stamp_set(n, seed=seed, split=split):
        if "rendered" in kinds:
            out.append(img)
        if "close-up" in kinds:
            out.append(close_up(img, rng))
    return out


def photo_paths(datasets: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(training photos as (path, group), held-out photos) from the other models' splits."""
    train: list[tuple[str, str]] = []
    held: list[str] = []
    validation = set(TypeClassifier().metadata["split"]["validation_paths"])
    folder = datasets / "jewelry-types"
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            path = str(folder / r["path"])
            if r["path"] in validation:
                held.append(path)
            else:
                train.append((path, "jt:" + (r.get("group_id") or r["path"])))
    ring_train, ring_held = split_ring_hands(read_ring_hands(datasets))
    train += [(r.path, f"rh:{r.session}") for r in ring_train[::3]]
    held += [r.path for r in ring_held[::2]]
    folder = datasets / "gemstones"
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        gems = [r for r in csv.DictReader(fh)]
    train += [(str(folder / r["path"]), "gem:" + r["path"]) for r in gems if r.get("split") == "train"][::4]
    held += [str(folder / r["path"]) for r in gems if r.get("split") == "test"][::4]
    return train, held


def _held_back(group: str) -> bool:
    """20 % of the training photos' groups, by a hash: the threshold set."""
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 5 == 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="jewel-vision train stamp-gate", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--data", type=Path, default=None, help="datasets folder (default: ../shared/datasets)")
    ap.add_argument("--n-stamps", type=int, default=600)
    ap.add_argument("--l2", type=float, default=1e-3)
    args = ap.parse_args(argv)
    datasets = args.data or default_data_root()
    embedder = Embedder(device="cpu")
    started = dt.datetime.now(dt.timezone.utc)

    def emb_stamps(n: int, seed: int, split: str, *kinds: str) -> np.ndarray:
        key = {"what": "stamps", "n": n, "seed": seed, "split": split, "kinds": kinds, "emb": embedder.full_name}
        return cached_embeddings(CACHE_DIR, key, lambda: embedder.embed(stamp_images(n, seed, split, kinds)))

    def emb_paths(paths: list[str]) -> np.ndarray:
        key = {"what": "photos", "paths": [str(Path(p).relative_to(datasets)) for p in paths], "emb": embedder.full_name}
        return cached_embeddings(CACHE_DIR, key, lambda: embed_paths(embedder, [Path(p) for p in paths]))

    log("embedding stamps (tune split) ...")
    s_fit = emb_stamps(args.n_stamps, 0, "tune", "rendered", "close-up")
    s_thr = np.concatenate([emb_stamps(150, 1, "tune", "rendered", "close-up"), emb_stamps(150, 2, "tune", "rendered")])
    s_test = emb_stamps(200, 0, "test", "rendered")  # the stamps eval_ocr scores
    s_test_cu = emb_stamps(200, 0, "test", "close-up")  # the same stamps as close-ups
    log("embedding photos ...")
    train, held = photo_paths(datasets)
    fit_paths = [p for p, g in train if not _held_back(g)]
    thr_paths = [p for p, g in train if _held_back(g)]
    p_fit, p_thr, p_held = emb_paths(fit_paths), emb_paths(thr_paths), emb_paths(held)

    x = np.concatenate([p_fit, s_fit])
    y = np.concatenate([np.zeros(len(p_fit), np.int64), np.ones(len(s_fit), np.int64)])
    layers = train_head(x, y, 2, l2=args.l2, epochs=300, seed=0)

    def prob(v: np.ndarray) -> np.ndarray:
        return head_proba(layers, v)[:, 1]

    ps, pp = prob(s_thr), prob(p_thr)
    # ``low`` is at most LOW_CAP: stamps unlike our renders (real photos) still reach the text gate.
    low = float(min(LOW_CAP, np.quantile(ps, 0.005)))
    high = float(max(0.5, np.quantile(pp, 0.995)))

    def rates(stamps: np.ndarray, photos: np.ndarray) -> dict:
        a, b = prob(stamps), prob(photos)
        return {
            "stamps": len(a), "photos": len(b),
            "stamps_skipped": float((a < low).mean()), "stamps_read_without_text_gate": float((a >= high).mean()),
            "photos_skipped": float((b < low).mean()), "photos_read_without_text_gate": float((b >= high).mean()),
        }

    report = {
        "threshold_set": rates(s_thr, p_thr),
        "test_stamps_and_heldout_photos": rates(s_test, p_held),
        "test_stamps_as_close_ups": {k: v for k, v in rates(s_test_cu, p_held).items() if k.startswith("stamps")},
    }
    metadata = {
        "trained": started.isoformat(timespec="seconds"),
        "data": {
            "stamps": f"{len(s_fit)} renders of {args.n_stamps} tune-split stamps (each as rendered and as a close-up)",
            "photos": f"{len(p_fit)} training photos (jewelry-types outside the type head's validation, "
                      "every 3rd ring-hands training photo, every 4th gemstones train photo)",
        },
        "l2": args.l2,
        "report": report,
    }
    version = save_head(args.out, layers, CLASSES, np.array([1.0 - low, high], np.float32), embedder.full_name, metadata)
    gate = StampGate(args.out)
    assert gate.version == version and abs(gate.low - low) < 1e-6  # stored as float32
    log(f"wrote {args.out} (version {version}); low={low:.4f} high={high:.4f}")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
