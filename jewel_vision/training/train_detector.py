"""Train the class-agnostic jewelry detector (mask + boxes) on CPU.

    python -m jewel_vision.training.train_detector [--data /work/shared/datasets] [--epochs N]
        [--out jewel_vision/vision/weights/detector.pt] [--seed 0]

Data: ring-hands (rings, plus the flagged rows relabelled as wristwear) split
by whole photo sessions (see :mod:`jewel_vision.training.data`), and cut-outs
of jewelry-types packshots pasted onto the hand photos. One network is trained
on two kinds of crops: whole-photo scale (the coarse pass) and object-centred
near full resolution (the refinement pass). After training the held-out ring
rows are evaluated (box AP at IoU 0.5, mask IoU at full resolution) and the
weights and ``DETECTOR_CARD.md`` are written.

The evaluation is :mod:`jewel_vision.training.eval_detector`, the card
:mod:`jewel_vision.training.detector_card`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..vision.mask_codec import as_bool_mask
from ..vision.predictors.detector import (
    MEAN,
    STD,
    Detector,
    DetectorConfig,
    build_network,
    load_detector_weights,
    save_detector_weights,
)
from . import data as D
from .common import log
from .compositing import SampleConfig, SampleMaker
from .detector_card import write_detector_card
from .eval_detector import evaluate_detector, measure_speed

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "vision" / "weights"
DEFAULT_OUT = WEIGHTS_DIR / "detector.pt"
DEFAULT_CARD = WEIGHTS_DIR / "DETECTOR_CARD.md"


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------
def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_tensor(imgs: np.ndarray):
    """uint8 crops [n, S, S, 3] -> the network's normalised channels-last input."""
    import torch

    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((torch.from_numpy(imgs).permute(0, 3, 1, 2).float() - mean) / std).contiguous(
        memory_format=torch.channels_last)


def mask_loss(net, x, masks: np.ndarray):
    """The mask network's loss on a batch: BCE (positive weight 2) + soft Dice over crops with jewelry."""
    import torch
    import torch.nn.functional as F

    y = torch.from_numpy(masks)[:, None]
    logits = net(x, with_centres=False)
    bce = F.binary_cross_entropy_with_logits(logits, y, pos_weight=torch.tensor(2.0))
    prob = torch.sigmoid(logits)
    inter = (prob * y).sum(dim=(1, 2, 3))
    denom = prob.sum(dim=(1, 2, 3)) + y.sum(dim=(1, 2, 3))
    has = (y.sum(dim=(1, 2, 3)) > 0).float()
    dice = 1 - (2 * inter + 1) / (denom + 1)
    dice = (dice * has).sum() / has.sum().clamp(min=1)
    return bce + dice, bce, dice


def mask_optimizer(net, lr: float):
    """AdamW over the mask network: stride-8/16 backbone blocks at half ``lr``, the decoder at ``lr``;
    the stride-2/4 blocks stay ImageNet (frozen: saves most of the backward pass). Returns (opt, frozen)."""
    import torch

    frozen = [net.s2, net.s4]
    for p in (p for m in frozen for p in m.parameters()):
        p.requires_grad_(False)
    backbone = [p for m in (net.s8, net.s16) for p in m.parameters()]
    ids = {id(p) for p in backbone} | {id(p) for m in frozen for p in m.parameters()}
    ids |= {id(p) for p in net.centre.parameters()}
    decoder = [p for p in net.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": backbone, "lr": lr * 0.5}, {"params": decoder, "lr": lr}], weight_decay=1e-4)
    return opt, frozen


def train_mask(net, opt, frozen, maker, n_steps: int, batch: int, tag: str, t_start: float,
               lr_factor: float = 1.0) -> None:
    """``n_steps`` of the mask loss on ``maker``'s batches, the learning rate warmed up then cosine."""
    base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in opt.param_groups]
    net.train()
    for m in frozen:
        m.eval()
    running = None
    for step in range(n_steps):
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * lr_factor * lr_at(step, n_steps)
        imgs, masks, _ = maker.batch(batch)
        loss, bce, dice = mask_loss(net, to_tensor(imgs), masks)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 50 == 0 or step == n_steps - 1:
            log(f"{tag} step {step + 1}/{n_steps} loss {running:.4f} (bce {bce.item():.4f} "
                f"dice {dice.item():.4f}) {time.time() - t_start:.0f}s")
    net.eval()


def train_centres(net, maker, steps: int, lr: float, batch: int, t_start: float) -> None:
    """Stage 3: the centre head alone (everything else frozen), CenterNet's focal loss on ``maker``'s heatmaps."""
    import torch

    for p in net.parameters():
        p.requires_grad_(False)
    params = list(net.centre.parameters())
    for p in params:
        p.requires_grad_(True)
    opt3 = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    net.eval()
    net.centre.train()
    running = None
    for step in range(steps):
        for g in opt3.param_groups:
            g["lr"] = lr * lr_at(step, steps)
        imgs, _, heats = maker.batch(batch)
        loss = centre_focal_loss(net(to_tensor(imgs))[:, 1:2], torch.from_numpy(heats)[:, None])
        opt3.zero_grad(set_to_none=True)
        loss.backward()
        opt3.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            log(f"stage 3 (centres) step {step + 1}/{steps} loss {running:.4f} {time.time() - t_start:.0f}s")
    net.eval()


def lr_at(step: int, n_steps: int) -> float:
    """Linear warm-up (50 steps or a tenth), then cosine to 0."""
    warmup = min(50, n_steps // 10)
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, n_steps - warmup)))


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train and write the weights (with their metadata, which is returned).

    Stages 1 and 2 train the mask (stage 2 after mining hard negatives with the
    stage-1 network); stage 3 trains the centre head alone on the frozen
    network, so the centre head cannot cost the masks any quality. ``--init``
    starts from a weights file and runs stage 3 only.
    """
    import torch

    torch.set_num_threads(args.threads)
    _seed_everything(args.seed)
    t_start = time.time()

    rows = D.read_ring_hands(args.data)
    train_rows, val_rows = D.split_ring_hands(rows, val_fraction=args.val_fraction, seed=args.seed)
    n_sessions = len({r.session for r in rows})
    val_sessions = sorted({r.session for r in val_rows})
    log(f"ring-hands: {len(rows)} rows, {n_sessions} sessions; train {len(train_rows)} "
        f"({sum(r.flagged for r in train_rows)} wristwear), held-out {len(val_rows)} "
        f"({sum(r.flagged for r in val_rows)} wristwear) from {len(val_sessions)} sessions")
    train_idx = [i for i, r in enumerate(rows) if r.session not in set(val_sessions)]
    cache = D.RingHandsCache(rows, args.cache_dir)
    cutouts, cut_types, _ = D.load_cutouts(args.data, args.cache_dir) if args.paste else ([], [], [])
    log(f"jewelry-types cut-outs: {len(cutouts)}")
    sample_cfg = SampleConfig(size=args.size)
    net = build_network(imagenet=True).to(memory_format=torch.channels_last)
    with torch.no_grad():
        net.centre.out.bias.fill_(-2.19)  # centre heatmap starts near p 0.1 (CenterNet's prior)
    hard: dict[int, list[tuple[float, float, float, float]]] = {}
    metadata: dict[str, Any]
    if args.init:
        init = Detector(args.init, device="cpu")
        old, _, metadata = load_detector_weights(args.init)
        # the mask network only: the centre head is trained afresh (so re-running on a file that
        # already has one reproduces it)
        state = {k: v for k, v in old.state_dict().items() if not k.startswith("centre.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("centre.") for k in missing):
            raise SystemExit(f"{args.init}: not a detector this network extends ({unexpected or missing})")
        metadata = {**metadata, "init": f"{Path(args.init).name}@{init.version}"}
        log(f"mask network from {args.init} (version {init.version}); training the centre branch only")
    else:
        opt, frozen = mask_optimizer(net, args.lr)
        steps_per_epoch = math.ceil(len(train_idx) / args.batch)
        total = args.steps or args.epochs * steps_per_epoch
        stage2 = int(round(total * args.hard_fraction)) if args.hard_fraction > 0 else 0
        stage1 = total - stage2

        log(f"training {total} steps of {args.batch} x {args.size}px: {stage1} + {stage2} after hard-negative mining")
        train_mask(net, opt, frozen, SampleMaker(cache, train_idx, cutouts, sample_cfg, seed=args.seed), stage1,
                   args.batch, "stage 1", t_start)
        if stage2:
            hard = mine_hard_negatives(net, cache, train_idx[:: args.mine_every])
            log(f"mined {sum(len(v) for v in hard.values())} hard negatives in {len(hard)} of "
                f"{len(train_idx[:: args.mine_every])} training photos ({time.time() - t_start:.0f}s)")
            maker = SampleMaker(cache, train_idx, cutouts, sample_cfg, seed=args.seed + 1, hard_negatives=hard)
            train_mask(net, opt, frozen, maker, stage2, args.batch, "stage 2", t_start, lr_factor=0.5)
        from collections import Counter

        metadata = {
            "trained": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
            "argv": " ".join(args.argv) if getattr(args, "argv", None) is not None else " ".join(sys.argv[1:]),
            "seed": args.seed,
            "steps": total,
            "stage2_steps": stage2,
            "steps_per_epoch": steps_per_epoch,
            "hard_negatives": sum(len(v) for v in hard.values()),
            "mined_photos": len(train_idx[:: args.mine_every]) if stage2 else 0,
            "batch": args.batch,
            "crop": args.size,
            "lr": args.lr,
            "threads": args.threads,
            "train_seconds": round(time.time() - t_start, 1),
            "machine": f"{platform.processor() or platform.machine()} CPU",
            "train_rows": len(train_rows),
            "heldout_sessions": val_sessions,
            "cutouts": len(cutouts),
            "cutout_types": dict(sorted(Counter(cut_types).items())),
        }

    # stage 3: the centre head alone, on the frozen network
    t3 = time.time()
    maker = SampleMaker(cache, train_idx, cutouts, SampleConfig(size=args.size, p_fine_pair=args.pair_fraction),
                          seed=args.seed + 2, hard_negatives=hard)
    train_centres(net, maker, args.centre_steps, args.lr, args.batch, t_start)
    metadata.update({
        "centre_steps": args.centre_steps,
        "centre_pair_fraction": args.pair_fraction,
        "centre_seconds": round(time.time() - t3, 1),
        "touching_instances_cut": sum(1 for i in train_idx if len(cache.instances[i]) > len(cache.obj_boxes[i])),
    })
    out = Path(args.out)
    save_detector_weights(out, net, DetectorConfig(), metadata)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) after {(time.time() - t_start) / 60:.1f} min")
    return metadata


def centre_focal_loss(logits, target):
    """CenterNet's penalty-reduced focal loss: ``target`` is 1 at piece centres, Gaussian around them."""
    import torch
    import torch.nn.functional as F

    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.ge(0.999).float()
    pos_loss = F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_loss = F.logsigmoid(-logits) * p**2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


# The inference settings used for mining (those of the first version of the detector; the
# shipped defaults in DetectorConfig were tuned afterwards on training photos).
MINING_CONFIG_OVERRIDES = {"mask_threshold": 0.5, "refine_context": 2.2, "seed_threshold": 0.0, "centre_threshold": 0.0}


def false_finds(detector: Detector, photos: Iterable[tuple[int, np.ndarray, np.ndarray]]
                ) -> dict[int, list[tuple[float, float, float, float]]]:
    """``detector``'s detections with under 10 % of their mask on annotated jewelry, per photo:
    ``photos`` are (key, RGB array, bool jewelry mask); -> {key: [boxes in that photo's pixels]}."""
    from PIL import Image

    hard: dict[int, list[tuple[float, float, float, float]]] = {}
    for key, rgb, gt in photos:
        h, w = gt.shape
        for it in detector.detect([Image.fromarray(rgb)])[0]:
            m = as_bool_mask(it.mask, (w, h))
            if np.logical_and(m, gt).sum() < 0.1 * m.sum():
                x0, y0, x1, y1 = it.box
                hard.setdefault(key, []).append((x0 * w, y0 * h, x1 * w, y1 * h))
    return hard


def mine_hard_negatives(net, cache: D.RingHandsCache, indices: Sequence[int], score_threshold: float = 0.3
                        ) -> dict[int, list[tuple[float, float, float, float]]]:
    """Run the half-trained detector on training photos; detections (score >= threshold) with
    under 10 % of their mask on annotated jewelry -> {cache index: [full-res boxes]}."""
    import tempfile

    MINING_CONFIG = DetectorConfig(**{**DetectorConfig().to_dict(), **MINING_CONFIG_OVERRIDES})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stage1.pt"
        save_detector_weights(path, net, MINING_CONFIG, {})
        det = Detector(path, device="cpu", score_threshold=score_threshold)
        det.load()
    return false_finds(det, ((int(i), np.asarray(cache.img[i]), np.asarray(cache.mask[i]) > 127) for i in indices))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="datasets folder (default: ../shared/datasets)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of len(train rows) samples")
    parser.add_argument("--steps", type=int, default=0, help="override the number of steps")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=112, help="training crop side")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--centre-steps", type=int, default=2000, help="steps of stage 3 (the centre head alone)")
    parser.add_argument("--pair-fraction", type=float, default=0.3,
                        help="stage 3: share of refinement crops with a second ring pasted touching the boxed one")
    parser.add_argument("--init", type=Path, default=None,
                        help="keep the mask network of these weights and train only a fresh centre head (stage 3)")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--hard-fraction", type=float, default=0.35,
                        help="share of the steps run after mining hard negatives with the half-trained model (0: none)")
    parser.add_argument("--mine-every", type=int, default=2, help="mine on every n-th training photo")
    parser.add_argument("--no-paste", dest="paste", action="store_false", help="no jewelry-types cut-outs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--card", type=Path, default=None, help="model card (default: next to --out when it is "
                        "the bundled weights, else <out>.md)")
    parser.add_argument("--cache-dir", type=Path, default=D.DEFAULT_CACHE_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy shared machine)")
    parser.add_argument("--no-eval", dest="evaluate", action="store_false")
    parser.add_argument("--eval-only", action="store_true",
                        help="no training: evaluate the weights in --out and (re)write the card")
    args = parser.parse_args(argv)
    if args.data is None:
        args.data = D.default_data_root()

    args.argv = list(sys.argv[1:] if argv is None else argv)
    import torch

    torch.set_num_threads(args.threads)
    if not args.eval_only:
        train(args)
        if not args.evaluate:
            return 0

    det = Detector(args.out, device="cpu", score_threshold=0.05)
    det.load()
    meta = det.metadata
    rows = D.read_ring_hands(args.data)
    train_rows, val_rows = D.split_ring_hands(rows, val_fraction=args.val_fraction, seed=meta.get("seed", args.seed))
    val_ring = [r for r in val_rows if not r.flagged]
    val_wrist = [r for r in val_rows if r.flagged]
    log(f"evaluating on {len(val_ring)} held-out ring rows ...")
    ring = evaluate_detector(det, val_ring)
    log(json.dumps(ring))
    wrist = evaluate_detector(det, val_wrist) if val_wrist else None
    if wrist:
        log("wristwear: " + json.dumps(wrist))
    det.score_threshold = 0.3
    ms = measure_speed(det, val_ring)
    log(f"speed: {ms:.0f} ms/image")
    card = args.card or (DEFAULT_CARD if Path(args.out).resolve() == DEFAULT_OUT.resolve() else Path(args.out).with_suffix(".md"))
    cut_types = [t for t, n in (meta.get("cutout_types") or {}).items() for _ in range(n)]
    write_detector_card(Path(card), {
        "rows": rows, "train_rows": train_rows, "val_rows": val_rows, "n_sessions": len({r.session for r in rows}),
        "val_sessions": sorted({r.session for r in val_rows}), "ring": ring, "config": det.config, "wrist": wrist, "ms_per_image": ms,
        "weights": Path(args.out).name, "size_mb": Path(args.out).stat().st_size / 1e6, "version": det.version,
        "date": meta.get("trained", "?"), "argv": meta.get("argv", ""),
        "train_minutes": float(meta.get("train_seconds", float("nan"))) / 60, "machine": meta.get("machine", "?"),
        "threads": meta.get("threads", args.threads), "eval_threads": args.threads, "seed": meta.get("seed", args.seed),
        "multi_object_pct": 100 * ring["multi_object_fraction"], "batch": meta.get("batch"), "crop": meta.get("crop"),
        "lr": meta.get("lr"), "steps": meta.get("steps"), "stage2": meta.get("stage2_steps", 0),
        "steps_per_epoch": meta.get("steps_per_epoch"), "n_hard": meta.get("hard_negatives", 0),
        "mined_photos": meta.get("mined_photos", 0), "cutouts": meta.get("cutouts", 0), "cut_types": cut_types,
        "centre_steps": meta.get("centre_steps", 0), "pair_fraction": meta.get("centre_pair_fraction", 0),
        "touching": meta.get("touching_instances_cut", 0), "init": meta.get("init"),
        "centre_minutes": float(meta.get("centre_seconds", 0)) / 60,
    })
    log(f"wrote {card}")
    print(json.dumps({"ring": ring, "wristwear": wrist, "ms_per_image": ms, "version": det.version}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
