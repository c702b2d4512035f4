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
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.embedding_head import head_proba
from jewel_vision.vision.predictors.stones import crop_to_item, save_stone_head

from .common import (
    cached_array,
    embed_images,
    format_metrics,
    log,
    merge_near_duplicates,
    metrics,
    stratified_group_folds,
    stratified_group_split,
)
from .stone_checks import cmd_check_attributes, cmd_check_segmenter
from .stone_data import (
    CACHE_DIR,
    DATASETS,
    LABELS_CSV,
    WEIGHTS_DIR,
    full_mask,
    gem_rows,
    item_masks,
    jitter,
    labelled_jewelry,
    swap_background,
)
from .stone_drawings import synthetic_training_set

CLASSES = ["none", "diamond", "pearl", "coloured"]
SEED = 0


# ---------------------------------------------------------------------------------------
# Splits, training, metrics
# ---------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> None:
    import torch

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
    gem_emb = cached_array(CACHE_DIR, "stones-gem", {"emb": emb_id, "paths": [str(p.resolve()) for p in gem_paths]},
                     lambda: embed_images(embedder, lambda i: Image.open(gem_paths[i]).convert("RGB"), len(gem_paths), chunk=32))
    # background-swapped copies: every Diamond training photo x6, every 3rd other one x1
    # (only 25 of 2,292 coloured-stone photos are on a dark background, all Diamond ones are)
    aug_idx: list[int] = []
    for k, i in enumerate(np.nonzero(gem_split == "train")[0]):
        aug_idx += [int(i)] * (6 if gem_y[i] == 1 else int(k % 3 == 0))

    def make_gem_aug(k: int) -> Image.Image:
        i = aug_idx[k]
        rng = random.Random(f"{args.seed}-gem-{k}")
        return jitter(swap_background(Image.open(gem_paths[i]), rng), rng)

    gem_aug = cached_array(CACHE_DIR, "stones-gem-aug", {"emb": emb_id, "idx": aug_idx, "seed": args.seed, "v": 2},
                     lambda: embed_images(embedder, make_gem_aug, len(aug_idx), chunk=32))

    # -- hand-labelled jewelry ------------------------------------------------------------------
    jt = [r for r in labelled_jewelry(Path(args.labels), jt_dir) if r["label"]]
    jt_paths = [jt_dir / r["path"] for r in jt]
    jt_y = np.array([CLASSES.index(r["label"]) for r in jt])
    log(f"hand-labelled jewelry: {len(jt)} photos {dict(Counter(r['label'] for r in jt))}")
    masks = item_masks(jt_paths)

    def jt_image(i: int) -> Image.Image:
        img = Image.open(jt_paths[i]).convert("RGB")
        return crop_to_item(img, full_mask(masks[i], img.size))

    jt_emb = cached_array(CACHE_DIR, "stones-jt", {"emb": emb_id, "paths": [str(p.resolve()) for p in jt_paths], "crop": "u2netp-box", "v": 1},
                    lambda: embed_images(embedder, jt_image, len(jt_paths), chunk=32))
    groups, _ = merge_near_duplicates([r["group_id"] for r in jt], jt_emb, 0.95)
    held = np.zeros(len(jt), bool)
    held[stratified_group_split([r["label"] for r in jt], groups, 0.3, args.seed)[1]] = True
    log(f"  split: train {int((~held).sum())}, held out {int(held.sum())} "
        f"({len(set(groups))} groups after joining near-duplicates)")
    jt_aug_idx = [int(i) for i in np.nonzero(~held)[0] for _ in range(args.aug_copies)]

    def make_jt_aug(k: int) -> Image.Image:
        return jitter(jt_image(jt_aug_idx[k]), random.Random(f"{args.seed}-jt-{k}"))

    jt_aug = cached_array(CACHE_DIR, "stones-jt-aug", {"emb": emb_id, "idx": jt_aug_idx, "seed": args.seed, "crop": "u2netp-box", "v": 1},
                    lambda: embed_images(embedder, make_jt_aug, len(jt_aug_idx), chunk=32))

    # -- drawn -------------------------------------------------------------------------------------
    syn_imgs, syn_labels = synthetic_training_set(args.synthetic, args.seed)
    syn_emb = cached_array(CACHE_DIR, "stones-syn", {"emb": emb_id, "n": args.synthetic, "seed": args.seed, "v": 2},
                     lambda: embed_images(embedder, lambda i: syn_imgs[i], len(syn_imgs), chunk=32))
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
    folds = stratified_group_folds([jt[i]["label"] for i in tr_idx], [groups[i] for i in tr_idx], 3, args.seed,
                                   random_start=False)
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
            preds += head_proba(layers, jt_emb[val]).argmax(1).tolist()
            trues += jt_y[val].tolist()
        cv[l2] = metrics(trues, preds, CLASSES, present_only=True)["macro_f1"]
        log(f"  L2 {l2:g}: CV macro-F1 {cv[l2]:.3f}")
    best_l2 = max(cv, key=lambda k: (cv[k], -k))
    layers = train_softmax(x_tr, y_tr, 4, best_l2, args.seed, w_tr, epochs=args.epochs)

    # -- evaluate -----------------------------------------------------------------------------------------
    gem_te = gem_split == "test"
    gem_pred = head_proba(layers, gem_emb[gem_te]).argmax(1)
    m_gem = metrics(gem_y[gem_te], gem_pred, CLASSES, present_only=True)
    jt_pred = head_proba(layers, jt_emb[held]).argmax(1)
    m_jt = metrics(jt_y[held], jt_pred, CLASSES, present_only=True)
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
