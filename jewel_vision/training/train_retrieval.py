"""Same-product retrieval: a projection head on frozen item-crop embeddings, and its evaluation.

    python -m jewel_vision.training.train_retrieval [--out jewel_vision/vision/weights/retrieval_head.npz]
    jewel-vision train retrieval

Embeddings are EfficientNet-Lite0's (1280-d) of the *item crop*: the photo cropped around the
detector's most confident piece (:func:`jewel_vision.vision.pipeline.item_view`), the whole
photo when nothing is found. The head is linear 1280 -> ``--dim``, L2-normalised, trained with
a symmetric InfoNCE loss on pairs of views of one product.

Data (fixed seeds; embeddings cached under var/cache/jewel_vision/retrieval):

* **synthetic pairs**: each jewelry-types cut-out (``data.load_cutouts``) shown twice: as a
  packshot on a plain background or composited onto a people-parsing / ring-hands photo or a
  plain colour, at a random scale and rotation, then white balance, exposure, blur and JPEG;
  the second view always on another background. Other cut-outs are the negatives.
* **pcjeweller**: the only real multi-view groups (29 SKUs). Its groups are split (stratified by
  type, by group) into a *validation* half, which decides everything (epochs, temperature,
  dimension, whether the head is used at all), and a *test* half that no decision reads.
  The head is trained on synthetic pairs only, so its score on all of pcjeweller is a
  leave-one-source-out figure (what a new shop will see).

Recall@k: for each photo of a split's multi-view group, is another view of it among the k
nearest of *all* other pcjeweller photos (the other half and the single views are distractors)?
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from jewel_vision.evaluation.metrics import retrieval
from jewel_vision.training.common import (
    load_or_compute,
    log,
    read_manifest,
    stratified_group_split,
)
from jewel_vision.training.data import load_cutouts
from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.pipeline import crop_around, item_view
from jewel_vision.vision.predictors.detector import Detector
from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.retrieval_head import (
    RetrievalHead,
    save_retrieval_head,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / "var" / "cache" / "jewel_vision" / "retrieval"
DEFAULT_OUT = REPO_ROOT / "jewel_vision" / "vision" / "weights" / "retrieval_head.npz"
SPLIT_SEED = 9


def default_data_root() -> Path:
    for cand in (REPO_ROOT.parent / "shared" / "datasets", Path("/work/shared/datasets")):
        if cand.is_dir():
            return cand
    return REPO_ROOT.parent / "shared" / "datasets"


# ---------------------------------------------------------------------------------------
# pcjeweller: item crops and their embeddings
# ---------------------------------------------------------------------------------------
def pcj_rows(data_root: Path) -> list[dict[str, str]]:
    rows = read_manifest(data_root / "pcjeweller")
    return sorted(rows, key=lambda r: r["path"])


def split_pcj(rows: Sequence[dict[str, str]], seed: int = SPLIT_SEED) -> dict[str, str]:
    """group_id -> "val" | "test", multi-view groups only, stratified by type, half each."""
    counts = Counter(r["group_id"] for r in rows)
    multi = [r for r in rows if counts[r["group_id"]] >= 2]
    _, val_idx = stratified_group_split([r["type"] for r in multi], [r["group_id"] for r in multi], 0.5, seed)
    val = {multi[i]["group_id"] for i in val_idx}
    return {r["group_id"]: ("val" if r["group_id"] in val else "test") for r in multi}


def pcj_embeddings(embedder, rows, folder: Path, detector=None, cache_dir: Path = CACHE_DIR
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(whole-photo, item-crop) embeddings of pcjeweller photos, cached."""
    key = hashlib.sha256(json.dumps(["item_view-2", embedder.full_name, detector.version if detector else None,
                                     [r["path"] for r in rows]]).encode()).hexdigest()[:12]

    def compute() -> np.ndarray:
        imgs = [load_image(folder / r["path"]) for r in rows]
        whole = embedder.embed(imgs)
        pieces = detector.detect(imgs) if detector is not None else [[] for _ in imgs]
        crops = [item_view(img, items) for img, items in zip(imgs, pieces)]
        return np.stack([whole, embedder.embed(crops)])

    arr, secs = load_or_compute(Path(cache_dir) / f"pcj-{key}.npy", compute)
    if secs is not None:
        log(f"embedded {len(rows)} pcjeweller photos (whole + crop) in {secs:.0f}s")
    return arr[0], arr[1]


# ---------------------------------------------------------------------------------------
# synthetic pairs: one cut-out on two backgrounds
# ---------------------------------------------------------------------------------------
def _backgrounds(data_root: Path, n: int, rng: np.random.Generator) -> list[Image.Image]:
    out: list[Image.Image] = []
    for name in ("people-parsing", "ring-hands"):
        folder = data_root / name
        if not (folder / "manifest.csv").is_file():
            continue
        rows = read_manifest(folder, label_key="path")
        for i in rng.choice(len(rows), size=min(n // 2, len(rows)), replace=False):
            with Image.open(folder / rows[int(i)]["path"]) as im:
                out.append(im.convert("RGB").copy())
    return out


def photometric(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """White balance, exposure, blur, JPEG."""
    arr = np.asarray(img, np.float32)
    gains = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.3)
    arr = np.clip(arr * gains, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(35, 95)))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def composite(cut: np.ndarray, bg: Image.Image | None, rng: np.random.Generator, size: int = 320) -> Image.Image:
    """The cut-out (RGBA) on ``bg`` (None: a plain light or dark background), cropped around it."""
    piece = Image.fromarray(cut, "RGBA")
    piece = piece.rotate(float(rng.uniform(-35, 35)), resample=Image.Resampling.BICUBIC, expand=True)
    if rng.random() < 0.5:
        piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = int(size * rng.uniform(0.35, 0.75))
    scale = side / max(piece.size)
    piece = piece.resize((max(1, round(piece.width * scale)), max(1, round(piece.height * scale))),
                         Image.Resampling.BICUBIC)
    if bg is None:
        tone = rng.uniform(225, 255) if rng.random() < 0.8 else rng.uniform(0, 40)
        colour = tuple(int(np.clip(tone + rng.uniform(-8, 8), 0, 255)) for _ in range(3))
        canvas = Image.new("RGB", (size, size), colour)
    else:
        w, h = bg.size
        s = int(min(w, h) * rng.uniform(0.4, 1.0))
        x, y = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
        canvas = bg.crop((x, y, x + s, y + s)).resize((size, size), Image.Resampling.BILINEAR)
    px = int(rng.integers(0, size - piece.width + 1))
    py = int(rng.integers(0, size - piece.height + 1))
    canvas.paste(piece, (px, py), piece)
    # the item crop, as the pipeline takes it: ~1.6x the piece's box
    box = (px / size, py / size, (px + piece.width) / size, (py + piece.height) / size)
    return photometric(crop_around(canvas, box, float(rng.uniform(1.2, 2.0)), 0.2), rng)


def synthetic_pairs(embedder, data_root: Path, n_pieces: int, seed: int, cache_dir: Path = CACHE_DIR
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings [n, 2, 1280], piece types [n]) of two views of each of n cut-outs."""
    cuts, types, _groups = load_cutouts(data_root, cache_dir=cache_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(cuts))[:n_pieces]
    key = hashlib.sha256(json.dumps([embedder.full_name, len(cuts), n_pieces, seed, 2]).encode()).hexdigest()[:12]

    def compute() -> np.ndarray:
        bgs = _backgrounds(data_root, 200, rng)
        out = []
        for start in range(0, len(order), 64):
            views = []
            for i in order[start : start + 64]:
                first_plain = rng.random() < 0.5  # packshot <-> worn
                for v in range(2):
                    plain = (v == 0 and first_plain) or (not bgs) or rng.random() < 0.15
                    bg = None if plain else bgs[int(rng.integers(len(bgs)))]
                    views.append(composite(cuts[int(i)], bg, rng))
            out.append(embedder.embed(views).reshape(-1, 2, embedder.dim))
            log(f"  synthetic views {min(start + 64, len(order))}/{len(order)}")
        return np.concatenate(out) if out else np.zeros((0, 2, embedder.dim), np.float32)

    arr, secs = load_or_compute(Path(cache_dir) / f"synth-{key}.npy", compute)
    if secs is not None:
        log(f"embedded {len(order)} synthetic pairs in {secs:.0f}s")
    return arr, np.asarray([types[int(i)] for i in order])


# ---------------------------------------------------------------------------------------
# head
# ---------------------------------------------------------------------------------------
def train_projection(pairs: np.ndarray, dim: int, epochs: int, temperature: float, seed: int,
                     lr: float = 3e-3, batch: int = 128, weight_decay: float = 1e-4) -> list[np.ndarray]:
    """Linear projection [dim, in] (+ bias) trained with symmetric InfoNCE on view pairs."""
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(pairs, dtype=np.float32))
    n, _, d_in = x.shape
    lin = torch.nn.Linear(d_in, dim)
    opt = torch.optim.AdamW(lin.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    snapshots = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n - 1, batch):
            idx = perm[start : start + batch]
            if len(idx) < 2:
                continue
            a = torch.nn.functional.normalize(lin(x[idx, 0]), dim=1)
            b = torch.nn.functional.normalize(lin(x[idx, 1]), dim=1)
            logits = a @ b.T / temperature
            target = torch.arange(len(idx))
            loss = (torch.nn.functional.cross_entropy(logits, target)
                    + torch.nn.functional.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        snapshots.append((lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy()))
    return snapshots


def recall(vectors: np.ndarray, groups: Sequence[str], query_groups: set[str] | None) -> dict:
    """Recall@1/5/10 of queries in ``query_groups`` (all multi-view groups when None) against all photos."""
    labels = [g if (query_groups is None or g in query_groups) else f"{g}#{i}" for i, g in enumerate(groups)]
    return retrieval(vectors, labels)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="jewel-vision train retrieval", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="head file (written only when it helps on validation)")
    ap.add_argument("--no-save", action="store_true", help="write no head file")
    ap.add_argument("--force-save", action="store_true", help="write the head even when it does not help (tests)")
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    ap.add_argument("--report", type=Path, default=None, help="write the figures (JSON) here")
    ap.add_argument("--pieces", type=int, default=1200, help="cut-outs to make synthetic pairs of")
    ap.add_argument("--dims", default="128,256", help="head dimensions to try (decided on validation)")
    ap.add_argument("--temperatures", default="0.05,0.1")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--no-detector", action="store_true", help="item crop = whole photo (tests)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    data_root = args.data_root or default_data_root()
    embedder = Embedder(device="cpu")
    detector = None
    if not args.no_detector:
        detector = Detector(device="cpu")
    rows = pcj_rows(data_root)
    groups = [r["group_id"] for r in rows]
    split = split_pcj(rows)
    val = {g for g, s in split.items() if s == "val"}
    test = {g for g, s in split.items() if s == "test"}
    log(f"pcjeweller: {len(rows)} photos, {len(val)} validation groups, {len(test)} test groups")
    whole, crop = pcj_embeddings(embedder, rows, data_root / "pcjeweller", detector, args.cache_dir)
    pairs, _types = synthetic_pairs(embedder, data_root, args.pieces, args.seed, args.cache_dir)
    log(f"synthetic pairs: {len(pairs)}")

    def score(vectors: np.ndarray) -> dict:
        return {"val": recall(vectors, groups, val), "test": recall(vectors, groups, test),
                "all (leave-one-source-out)": recall(vectors, groups, None)}

    baselines = {"whole photo, bare embedding": score(whole), "item crop, bare embedding": score(crop)}
    for name, res in baselines.items():
        log(f"{name}: val R@5 {res['val']['recall@5']:.3f} test R@5 {res['test']['recall@5']:.3f}")

    # decisions on the validation half only: dimension, temperature, epochs
    best = None
    tried = []
    for dim in [int(v) for v in args.dims.split(",")]:
        for temp in [float(v) for v in args.temperatures.split(",")]:
            snaps = train_projection(pairs, dim, args.epochs, temp, args.seed)
            for ep, (w, b) in enumerate(snaps, 1):
                proj = crop @ w.T + b
                r = recall(proj, groups, val)
                key = (r["recall@5"], r["recall@1"], -ep)
                tried.append({"dim": dim, "temperature": temp, "epochs": ep, "val": r})
                if best is None or key > best[0]:
                    best = (key, dim, temp, ep, w, b)
    _, dim, temp, ep, w, b = best
    log(f"chosen on validation: dim {dim}, temperature {temp}, epochs {ep}")
    head_vectors = crop @ w.T + b
    head = score(head_vectors)
    bare_val = baselines["item crop, bare embedding"]["val"]["recall@5"]
    helps = head["val"]["recall@5"] > bare_val
    log(f"head: val R@5 {head['val']['recall@5']:.3f} test R@5 {head['test']['recall@5']:.3f} "
        f"all {head['all (leave-one-source-out)']['recall@5']:.3f}; helps on validation: {helps}")

    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m jewel_vision.training.train_retrieval " + " ".join(argv if argv is not None else sys.argv[1:]),
        "embedder": embedder.full_name,
        "detector": detector.version if detector is not None else None,
        "pcjeweller": {"photos": len(rows), "val_groups": sorted(val), "test_groups": sorted(test),
                       "split_seed": SPLIT_SEED},
        "synthetic_pairs": len(pairs),
        "baselines": baselines,
        "head": {"dim": dim, "temperature": temp, "epochs": ep, "trained_on": "synthetic pairs only", **head},
        "head_helps_on_validation": bool(helps),
        "decided_by": "validation half of the pcjeweller multi-view groups (dimension, temperature, epochs, "
                      "whether to ship); the test half and the leave-one-source-out figure decided nothing",
        "grid": [{k: v for k, v in t.items()} for t in tried if t["epochs"] % 5 == 0 or t["epochs"] == ep],
    }
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    if (helps or args.force_save) and not args.no_save:
        version = save_retrieval_head(args.out, w, b, embedder.full_name,
                                      {k: report[k] for k in ("date", "command", "pcjeweller", "synthetic_pairs",
                                                               "head", "decided_by")})
        RetrievalHead(args.out)  # loads
        log(f"wrote {args.out} (retrieval@{version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
