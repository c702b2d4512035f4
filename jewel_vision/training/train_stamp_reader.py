"""Fine-tune the stamp recogniser (``vision/predictors/stamp_recogniser.py``) on rendered stamps.

    python -m jewel_vision.training.train_stamp_reader [--train-seeds 21-28] [--val-seed 30]

Data: our renderer's **tune** split only (``stamps.make_cross_specs(n, seed, "tune")``: held-out
fonts never appear; the second renderer, ``stamps_alt``, is not used at all). Each render goes
through the reader's own steps (``HallmarkReader.regions``, then ``line_crops``: locate, zoom,
high-pass, detect the lines), so the crops are those the recogniser meets at run time; a line's
label is the stamped text (one line: the whole text; as many lines as words: a word each;
anything else is left out). Training also sees each line cut from the region before the
high-pass (the same box), as augmentation.

What is trained: english_g2's two BiLSTMs and output layer, on its frozen VGG features (computed
once per crop); CTC loss, AdamW. Decisions, all on the validation seed (another tune seed):
the epoch kept (best exact line reading on its high-passed crops). The reader's threshold
(``ReaderConfig.stamp_recogniser_min_score``) is decided separately, on whole tune renders
(``eval_ocr_cross --split tune``), never on the test split.

Writes ``vision/weights/stamp_recogniser.npz`` (float16, the trained layers only) and a JSON
report (``--report``). Crops are cached under ``--cache-dir`` per seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader
from jewel_vision.vision.predictors.ocr_engines import HALLMARK_ALPHABET
from jewel_vision.vision.predictors.stamp_recogniser import (
    CHARACTERS,
    DEFAULT_STAMP_RECOGNISER_PATH,
    TRAINED_PREFIXES,
    StampRecogniser,
    greedy_decode,
    line_tensor,
)
from jewel_vision.vision.stamps import make_cross_specs, render_spec

from .common import DEFAULT_CACHE_DIR, log, write_report

CROPS_VERSION = "c1"  # bump when the way crops are cut changes


def line_labels(text: str, n_lines: int) -> list[str] | None:
    """Labels for ``n_lines`` detected lines (left to right) of a stamp reading ``text``; None if unclear."""
    words = text.split()
    if n_lines == 1:
        return [" ".join(words)]
    if n_lines == len(words):
        return words
    return None


def render_crops(seed: int, n: int) -> dict[str, np.ndarray]:
    """Line crops of ``n`` tune renders of ``seed``: flat arrays for ``np.savez`` (no pickles)."""
    reader = HallmarkReader(recogniser=None)
    hp, raw, labels, tiny = [], [], [], []
    for spec in make_cross_specs(n, seed, "tune"):
        region, _ = reader.regions(render_spec(spec))[0]
        lines = reader.line_crops(region)
        names = line_labels(spec.text, len(lines))
        if not names:
            continue
        w, h = region.size
        grey = region.convert("L")
        for (crop, (x0, y0, x1, y1)), name in zip(lines, names):
            hp.append(np.asarray(crop))
            raw.append(np.asarray(grey.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))))
            labels.append(name)
            tiny.append(spec.margin is not None)
    out: dict[str, np.ndarray] = {"labels": np.array(labels, dtype=str), "tiny": np.array(tiny, bool)}
    for i, (a, b) in enumerate(zip(hp, raw)):
        out[f"hp{i}"], out[f"raw{i}"] = a, b
    return out


def _crops_path(cache_dir: Path, seed: int, n: int) -> Path:
    key = hashlib.sha256(json.dumps([CROPS_VERSION, seed, n]).encode()).hexdigest()[:12]
    return cache_dir / f"stamp-crops-{seed}-{n}-{key}.npz"


def _make_and_save(job: tuple[Path, int, int]) -> str:
    path, seed, n = job
    t0 = time.perf_counter()
    arrays = render_crops(seed, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return f"seed {seed}: {len(arrays['labels'])} lines in {time.perf_counter() - t0:.0f}s"


def load_crops(seeds: list[int], n: int, cache_dir: Path, processes: int = 2) -> list[dict]:
    """Every line crop of ``seeds`` as dicts (hp, raw: PIL grey; label; tiny), making missing ones."""
    missing = [(_crops_path(cache_dir, s, n), s, n) for s in seeds if not _crops_path(cache_dir, s, n).exists()]
    if missing:
        with get_context("spawn").Pool(max(1, min(processes, len(missing)))) as pool:
            for msg in pool.imap_unordered(_make_and_save, missing):
                log(f"  crops {msg}")
    out = []
    for s in seeds:
        with np.load(_crops_path(cache_dir, s, n), allow_pickle=False) as z:
            for i, (label, tiny) in enumerate(zip(z["labels"], z["tiny"])):
                out.append({"hp": Image.fromarray(z[f"hp{i}"]), "raw": Image.fromarray(z[f"raw{i}"]),
                            "label": str(label), "tiny": bool(tiny), "seed": s})
    return out


def slant_stretch(crop: Image.Image, rng: np.random.Generator, max_shear: float = 0.3,
                  stretch: tuple[float, float] = (0.75, 1.3)) -> Image.Image:
    """``crop`` (grey) slanted like an oblique face and stretched or squeezed sideways: letter
    shapes our renderer's upright fonts never show (generic text-recogniser augmentation)."""
    w, h = crop.size
    sh = float(rng.uniform(-max_shear, max_shear))
    sx = float(rng.uniform(*stretch))
    nw = max(4, int(round(w * sx + abs(sh) * h)))
    fill = int(np.median(np.concatenate([np.asarray(crop)[:, 0], np.asarray(crop)[:, -1]])))
    # output (x, y) <- input ((x + sh * y - max(sh, 0) * h) / sx, y): every input column lands in frame
    return crop.transform((nw, h), Image.AFFINE, (1 / sx, sh / sx, -max(sh, 0.0) * h / sx, 0, 1, 0),
                          resample=Image.BICUBIC, fillcolor=fill)


def _features(model, crops: list[Image.Image]) -> list:
    """Frozen VGG features, one [T, 256] tensor per crop at its own width."""
    import torch

    out = []
    with torch.inference_mode():
        for c in crops:
            v = model.FeatureExtraction(line_tensor([c]))
            out.append(model.AdaptiveAvgPool(v.permute(0, 3, 1, 2)).squeeze(3)[0].clone())
    return out


def _head(model, batch: list):
    import torch

    t = max(f.shape[0] for f in batch)
    x = torch.stack([torch.cat([f, f[-1:].expand(t - f.shape[0], -1)]) for f in batch])
    return model.Prediction(model.SequenceModeling(x).contiguous()), [f.shape[0] for f in batch]


def _allowed() -> np.ndarray:
    return np.array([1.0] + [1.0 if (ch in HALLMARK_ALPHABET or ch == " ") else 0.0 for ch in CHARACTERS], np.float32)


def read_lines(model, feats: list) -> list[tuple[str, float]]:
    import torch

    out: list[tuple[str, float]] = []
    with torch.no_grad():
        for i in range(0, len(feats), 64):
            logits, lens = _head(model, feats[i: i + 64])
            for lg, n in zip(logits.numpy(), lens):
                out += greedy_decode(lg[None, :n], _allowed())
    return out


def line_scores(reads: list[tuple[str, float]], labels: list[str], tiny: np.ndarray) -> dict[str, float]:
    ok = np.array([r.replace(" ", "") == y.replace(" ", "") for (r, _), y in zip(reads, labels)])
    return {"exact_lines": round(float(ok.mean()), 4), "exact_lines_tiny": round(float(ok[tiny].mean()), 4) if tiny.any() else None,
            "n": int(len(ok))}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jewel_vision.training.train_stamp_reader", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-seeds", default="21-28", help="tune-split seeds to train on (e.g. 21-28)")
    ap.add_argument("--val-seed", type=int, default=30, help="tune-split seed that decides the epoch")
    ap.add_argument("--n", type=int, default=400, help="renders per seed")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_STAMP_RECOGNISER_PATH)
    ap.add_argument("--report", type=Path, default=Path("benchmarks/results/stamp-recogniser.json"))
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--slant-copies", type=int, default=0,
                    help="extra slanted / stretched copies of each training line (slant_stretch)")
    args = ap.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    train_seeds = _seeds(args.train_seeds)
    if args.val_seed in train_seeds:
        raise SystemExit("the validation seed must not be a training seed")
    crops = load_crops(train_seeds + [args.val_seed], args.n, args.cache_dir, args.processes)
    train = [c for c in crops if c["seed"] != args.val_seed]
    val = [c for c in crops if c["seed"] == args.val_seed]
    log(f"{len(train)} training lines ({len(train_seeds)} seeds), {len(val)} validation lines")

    model = StampRecogniser.base_model()
    aug_rng = np.random.default_rng(args.seed + 1)
    x_imgs = [c["hp"] for c in train] + [c["raw"] for c in train]
    y_train = [c["label"] for c in train] * 2
    for _ in range(args.slant_copies):
        x_imgs += [slant_stretch(c[k], aug_rng) for k in ("hp", "raw") for c in train]
        y_train += [c["label"] for c in train] * 2
    x_train = _features(model, x_imgs)
    x_val = _features(model, [c["hp"] for c in val])
    y_val, tiny_val = [c["label"] for c in val], np.array([c["tiny"] for c in val])
    log(f"features in {time.perf_counter() - t0:.0f}s")
    history = [{"epoch": 0, **line_scores(read_lines(model, x_val), y_val, tiny_val)}]
    log(f"english_g2 as shipped: {history[0]}")

    index = {ch: i + 1 for i, ch in enumerate(CHARACTERS)}
    params = []
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(TRAINED_PREFIXES)
        if p.requires_grad:
            params.append(p)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    rng = np.random.default_rng(args.seed)
    best, best_state = -1.0, None
    for epoch in range(1, args.epochs + 1):
        model.train()
        model.FeatureExtraction.eval()
        order = rng.permutation(len(x_train))
        total = 0.0
        for i in range(0, len(order), args.batch):
            b = order[i: i + args.batch]
            logits, lens = _head(model, [x_train[j] for j in b])
            targets = [torch.tensor([index[ch] for ch in y_train[j]]) for j in b]
            loss = ctc(logits.log_softmax(-1).permute(1, 0, 2), torch.cat(targets), torch.tensor(lens),
                       torch.tensor([len(t) for t in targets]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        model.eval()
        row = {"epoch": epoch, "loss": round(total / len(order), 4), **line_scores(read_lines(model, x_val), y_val, tiny_val)}
        history.append(row)
        log(f"epoch {epoch}: {row} ({time.perf_counter() - t0:.0f}s)")
        if row["exact_lines"] > best:
            best = row["exact_lines"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(TRAINED_PREFIXES)}
    assert best_state is not None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **{k: v.numpy().astype(np.float16) for k, v in best_state.items()})
    chosen = max(history[1:], key=lambda r: r["exact_lines"])
    report = {
        "weights": str(args.out.name), "size_bytes": args.out.stat().st_size,
        "data": {"renderer": "ours (stamps.make_cross_specs), tune split", "train_seeds": train_seeds,
                 "val_seed": args.val_seed, "renders_per_seed": args.n, "train_lines": len(train),
                 "val_lines": len(val), "crops": "HallmarkReader.regions + line_crops (high-passed; raw as augmentation)"},
        "training": {"trained": list(TRAINED_PREFIXES), "frozen": "FeatureExtraction (english_g2 as shipped)",
                     "epochs": args.epochs, "lr": args.lr, "batch": args.batch, "loss": "CTC",
                     "slant_copies": args.slant_copies},
        "decisions": {"epoch": f"best exact line reading on the validation seed's high-passed crops: epoch {chosen['epoch']}"},
        "history": history, "seconds": round(time.perf_counter() - t0, 1),
    }
    write_report(args.report, report)
    log(f"-> {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), report {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
