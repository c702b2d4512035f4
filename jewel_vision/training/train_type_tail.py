"""Fine-tune the backbone's last blocks for the type head, and measure it as a new shop would.

    python -m jewel_vision.training.train_type_tail [--split 15] [--copies 2] [--epochs 8] \\
        [--only pcjeweller] [--report benchmarks/results/type-tail-loso.json]

Same samples, splits, balancing and leave-one-source-out protocol as ``train_type`` (which
trains a head on the frozen embedding). Here the network up to block ``--split`` stays
frozen and its output is cached (plain view and ``--copies`` augmented copies: white
balance, exposure, blur, JPEG, background swap happen at the input, before caching); the
blocks from ``--split`` on, the head convolution and a linear classifier are trained
together (BatchNorm statistics frozen, feature-map flips as extra augmentation).

For each held-out source, both are scored on its photos: the frozen-embedding head of
``train_type`` (same rows, same grid) and the fine-tuned tail. The number of epochs is
chosen on the other sources' validation splits (best epoch kept); the held-out source
decides nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.embedding_head import head_proba

from .common import DEFAULT_CACHE_DIR, cached_array, log, merge_near_duplicates, train_head
from .data import default_data_root
from .train_type import (
    CLASSES,
    RECIPES,
    SOURCES,
    Rows,
    _cell,
    _subsets,
    choose_thresholds,
    fit,
    make_views,
    present_metrics,
    row_weights,
    score,
    score_probs,
    split_samples,
)
from .type_sources import Sample, all_samples


def trunk_views(samples: list[Sample], embedder: Embedder, split: int, copy_: int, seed: int,
                cache_dir: Path, chunk: int = 256) -> np.ndarray:
    """[N, C*H*W] float16 trunk features of copy ``copy_`` (0: plain); NaN rows where a sample failed."""
    blocks: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(samples):
        blocks.setdefault((s.kind, s.source), []).append(i)
    out = None
    for (kind, source), members in blocks.items():
        for start in range(0, len(members), chunk):
            rows = members[start : start + chunk]
            part = [samples[i] for i in rows]

            def compute(part=part) -> np.ndarray:
                imgs, ok = make_views(part, copy_, seed)
                feats = embedder.trunk_features(imgs, split).reshape(len(imgs), -1) if imgs else None
                arr = np.full((len(part), feats.shape[1] if feats is not None else 1), np.nan, np.float16)
                if feats is not None:
                    arr[ok] = feats.astype(np.float16)
                return arr

            key = {"what": "type-trunk", "split": split, "recipe": RECIPES[part[0].kind],
                   "embedder": embedder.full_name, "pre": repr(embedder.preprocessing), "copy": copy_,
                   "seed": seed, "keys": [s.key for s in part]}
            arr = cached_array(cache_dir, "trunk", key, compute)
            if out is None:
                out = np.full((len(samples), arr.shape[1]), np.nan, np.float16)
            if arr.shape[1] == out.shape[1]:
                out[rows] = arr
        log(f"  copy {copy_}: {kind}/{source} ({len(members)})")
    return out


class TypeTailNet:
    """Blocks ``split..`` + head convolution of a frozen-BN EfficientNet copy, then a linear classifier."""

    def __init__(self, network, split: int, shape: tuple[int, int, int], layers) -> None:
        import torch

        self.torch = torch
        self.shape = shape
        self.blocks = torch.nn.ModuleList(copy.deepcopy(list(network._blocks[split:])))
        self.conv_head = copy.deepcopy(network._conv_head)
        self.bn1 = copy.deepcopy(network._bn1)
        self.swish = network._swish
        (w, b), = layers
        self.fc = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(w))
            self.fc.bias.copy_(torch.from_numpy(b))
        self.modules = torch.nn.ModuleList([self.blocks, self.conv_head, self.bn1, self.fc]).float()
        for p in self.modules.parameters():
            p.requires_grad_(True)
        for bn in (m for m in self.modules.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.weight.requires_grad_(False)
            bn.bias.requires_grad_(False)

    def embed(self, flat):
        torch = self.torch
        x = flat.view(-1, *self.shape)
        for block in self.blocks:
            x = block(x)
        x = self.swish(self.bn1(self.conv_head(x)))
        return torch.nn.functional.normalize(x.mean(dim=(2, 3)), p=2, dim=1, eps=1e-12)

    def logits(self, flat):
        return self.fc(self.embed(flat))

    def proba(self, x16: np.ndarray, batch: int = 512) -> np.ndarray:
        torch = self.torch
        self.modules.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, len(x16), batch):
                xb = torch.from_numpy(x16[s : s + batch].astype(np.float32))
                out.append(torch.softmax(self.logits(xb), 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def fine_tune(network, split: int, shape, x16: np.ndarray, y: np.ndarray, w: np.ndarray,
              x_val16: np.ndarray, y_val: np.ndarray, init_layers, *, epochs: int, lr: float,
              seed: int, batch: int = 64) -> tuple[TypeTailNet, dict]:
    """Train the tail; keep the epoch with the best validation macro-F1 (epoch 0: the warm start)."""
    import torch

    torch.manual_seed(seed)
    net = TypeTailNet(network, split, shape, init_layers)
    tail_params = [p for n, p in net.modules.named_parameters() if p.requires_grad and not n.startswith("3.")]
    opt = torch.optim.AdamW([{"params": tail_params, "lr": lr},
                             {"params": net.fc.parameters(), "lr": lr * 10}], weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(x16) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, lr * 10], total_steps=steps, pct_start=0.15)
    rng = np.random.default_rng(seed)
    wt = torch.from_numpy(w.astype(np.float32))
    yt = torch.from_numpy(y)
    per_row = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=0.1)

    def val_f1() -> float:
        return present_metrics(y_val, net.proba(x_val16).argmax(1))["macro_f1_present"]

    history = [val_f1()]
    best = (history[0], 0, copy.deepcopy(net.modules.state_dict()))
    for epoch in range(1, epochs + 1):
        net.modules.train()
        for bn in (m for m in net.modules.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.eval()  # keep ImageNet statistics: batches mix sources and are small
        order = rng.permutation(len(x16))
        t0 = time.perf_counter()
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            xb = torch.from_numpy(x16[idx].astype(np.float32)).view(-1, *shape)
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            xb[flip] = xb[flip].flip(-1)
            loss = (per_row(net.logits(xb.reshape(len(idx), -1)), yt[idx]) * wt[idx]).sum() / wt[idx].sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        f1 = val_f1()
        history.append(f1)
        log(f"    epoch {epoch}: val macro-F1 {f1:.3f} ({time.perf_counter() - t0:.0f}s)")
        if f1 > best[0]:
            best = (f1, epoch, copy.deepcopy(net.modules.state_dict()))
    net.modules.load_state_dict(best[2])
    return net, {"val_macro_f1_by_epoch": history, "best_epoch": best[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jewel_vision.training.train_type_tail", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--split", type=int, default=15, help="first fine-tuned block (16: head convolution only)")
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--composites", type=int, default=1500)
    parser.add_argument("--ring-hands", type=int, default=100000)
    parser.add_argument("--only", nargs="*", default=None, help="held-out sources to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dedup-threshold", type=float, default=0.97)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--report", type=Path, default=Path("benchmarks/results/type-tail-loso.json"))
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    samples = all_samples(args.data_root or default_data_root(), composites=args.composites,
                          ring_hands=args.ring_hands, seed=args.seed)
    log(f"{len(samples)} samples: " + ", ".join(f"{k} {v}" for k, v in Counter(
        f"{s.source if s.kind != 'composite' else 'composite'}/{s.label}" for s in samples).most_common()))
    embedder = Embedder(device="cpu", batch_size=32)
    views = [trunk_views(samples, embedder, args.split, c, args.seed, args.cache_dir) for c in range(args.copies + 1)]
    channels = {15: 192, 16: 320}[args.split]
    shape = (channels, 7, 7)
    rows = Rows(samples, views)  # rows.x: float16 trunk features
    x16 = rows.x
    emb = np.concatenate([embedder.embed_from_trunk(x16[s : s + 1024].astype(np.float32).reshape(-1, *shape),
                                                    args.split) for s in range(0, len(x16), 1024)])
    plain = np.zeros((len(samples), emb.shape[1]), np.float32)
    plain_rows = np.nonzero(~rows.is_copy)[0]
    plain[rows.sample[plain_rows]] = emb[plain_rows]
    groups, links = merge_near_duplicates([s.group for s in samples], plain, args.dedup_threshold)
    split = split_samples(samples, groups, args.seed)
    log(f"splits: {dict(Counter(split))}; {links} near-duplicate links")

    group_sources: dict[str, set[str]] = {}
    for s, g in zip(samples, groups):
        group_sources.setdefault(g, set()).update(s.sources)
    report: dict = {"split": args.split, "copies": args.copies, "epochs": args.epochs, "lr": args.lr, "folds": {}}
    sample_split = np.array(split)
    for held in args.only or SOURCES:
        keep = np.array([held not in s.sources and held not in group_sources[g] for s, g in zip(samples, groups)])
        train = rows.select(keep & np.isin(sample_split, ["train", "test"]))
        val = rows.select(keep & (sample_split == "val"), plain_only=True)
        scored = rows.select(np.array([s.source == held and s.kind != "composite" for s in samples]), plain_only=True)
        w = row_weights([_cell(samples[i]) for i in rows.sample[train]])
        layers, l2, _ = fit(emb[train], rows.y[train], w, emb[val], rows.y[val], args.seed)
        thresholds, _ = choose_thresholds(head_proba(layers, emb[val]), rows.y[val], CLASSES, 0.9)
        frozen = {name: score(layers, emb[r], rows.y[r], thresholds) | {"n": len(r)}
                  for name, r in _subsets(samples, rows, scored).items()}
        report["folds"][held] = {"frozen_head": frozen, "frozen_l2": l2}
        log(f"LOSO {held}: frozen " + "; ".join(f"{k} {v['macro_f1_present']:.3f}" for k, v in frozen.items()))
        if not args.epochs:
            continue
        init = train_head(emb[train], rows.y[train], len(CLASSES), l2=1e-3, epochs=300, seed=args.seed, sample_weights=w)
        net, info = fine_tune(embedder.network, args.split, shape, x16[train], rows.y[train], w, x16[val],
                              rows.y[val], init, epochs=args.epochs, lr=args.lr, seed=args.seed)
        t_tail, _ = choose_thresholds(net.proba(x16[val]), rows.y[val], CLASSES, 0.9)
        tuned = {name: score_probs(net.proba(x16[r]), rows.y[r], t_tail) | {"n": len(r)}
                 for name, r in _subsets(samples, rows, scored).items()}
        report["folds"][held] = {"frozen_head": frozen, "frozen_l2": l2, "tail": tuned, **info}
        log(f"LOSO {held}: " + "; ".join(f"{k} frozen {frozen[k]['macro_f1_present']:.3f} -> tail "
                                         f"{tuned[k]['macro_f1_present']:.3f}" for k in frozen))
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1, default=float) + "\n")
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.report.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
