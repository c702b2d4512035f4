"""Fine-tune the jewelry detector on street photos of people, keeping what it does on hands.

    python -m jewel_vision.training.tune_detector_people [--init jewel_vision/vision/weights/detector.pt] \\
        [--steps 800] [--people-share 0.5] --out var/detector-people.pt
    python benchmarks/detector_people.py --weights var/detector-people.pt --split test     # street photos
    python -m jewel_vision.training.train_detector --eval-only --out var/detector-people.pt --card /tmp/card.md

Issue 9 (item 3): the detector learnt jewelry on hands on plain backgrounds and on a street
photo finds a tenth of the pieces (``DETECTOR_CARD.md``). Starting from a detector's weights,
the mask network (stride-8/16 backbone blocks and decoder) trains on a mix of its own
ring-hands crops (:class:`.compositing.SampleMaker`) and crops of the *training* half of
``people-parsing`` (:class:`.people_compositing.PeopleSampleMaker`: real worn jewelry, catalogue
cut-outs worn by people wearing none, and hard negatives: what the starting detector finds off
any jewelry on those photos); then the centre head is retrained on the same mix (stage 3 of
``train_detector``). The test half of the people (``people_split``) and the ring-hands
held-out sessions decide nothing here; they score the result.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from ..vision.predictors.detector import (
    Detector,
    DetectorConfig,
    build_network,
    load_detector_weights,
    save_detector_weights,
)
from . import data as D
from .common import log
from .compositing import SampleConfig, SampleMaker
from .people_compositing import MixedMaker, PeopleCache, PeopleSampleMaker, people_split
from .train_detector import (
    DEFAULT_OUT,
    false_finds,
    mask_optimizer,
    train_centres,
    train_mask,
)
from .type_sources import read_people


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--init", type=Path, default=DEFAULT_OUT, help="the detector to start from")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=800, help="mask steps")
    ap.add_argument("--centre-steps", type=int, default=1000)
    ap.add_argument("--people-share", type=float, default=0.5, help="share of the crops from street photos")
    ap.add_argument("--bare", type=int, default=300, help="people wearing no jewelry to draw from (training half)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=D.DEFAULT_CACHE_DIR)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()

    rows = D.read_ring_hands(args.data)
    train_rows, val_rows = D.split_ring_hands(rows, seed=0)
    held = {r.session for r in val_rows}
    train_idx = [i for i, r in enumerate(rows) if r.session not in held]
    cache = D.RingHandsCache(rows, args.cache_dir)
    cutouts, cut_types, _ = D.load_cutouts(args.data, args.cache_dir)
    people = [p for p in read_people(args.data or D.default_data_root()) if people_split(p.name) == "train"]
    wearing = [p for p in people if any(v >= 40 for v in p.jewelry.values())]
    bare = [p for p in people if not any(p.jewelry.values())][: args.bare]
    people_cache = PeopleCache(wearing + bare)
    log(f"people (training half): {len(wearing)} wearing jewelry, {len(bare)} wearing none; "
        f"{len(cutouts)} cut-outs; ring-hands training photos {len(train_idx)}")

    start = Detector(args.init, device="cpu")
    hard = false_finds(start, ((i, ph.img, ph.mask > 127) for i, ph in enumerate(people_cache.photos)))
    log(f"hard negatives on street photos: {sum(map(len, hard.values()))} in {len(hard)} photos "
        f"({time.time() - t_start:.0f}s)")

    old, _, metadata = load_detector_weights(args.init)
    net = build_network(imagenet=False).to(memory_format=torch.channels_last)
    net.load_state_dict(old.state_dict())
    opt, frozen = mask_optimizer(net, args.lr)
    cfg = SampleConfig(size=args.size)
    shares = (1 - args.people_share, args.people_share)
    mixed = MixedMaker([SampleMaker(cache, train_idx, cutouts, cfg, seed=args.seed),
                        PeopleSampleMaker(people_cache, cutouts, cut_types, cfg, seed=args.seed, hard_negatives=hard)],
                       shares, seed=args.seed)
    train_mask(net, opt, frozen, mixed, args.steps, args.batch, "mask", t_start)
    centre_cfg = SampleConfig(size=args.size, p_fine_pair=0.3)
    centres = MixedMaker([SampleMaker(cache, train_idx, cutouts, centre_cfg, seed=args.seed + 2),
                          PeopleSampleMaker(people_cache, cutouts, cut_types, centre_cfg, seed=args.seed + 2,
                                            hard_negatives=hard)], shares, seed=args.seed + 2)
    train_centres(net, centres, args.centre_steps, 2e-3, args.batch, t_start)
    metadata = {**metadata, "tuned_on_people": {
        "init": f"{args.init.name}@{start.version}", "steps": args.steps, "centre_steps": args.centre_steps,
        "people_share": args.people_share, "lr": args.lr, "people_wearing": len(wearing), "people_bare": len(bare),
        "hard_negatives": sum(map(len, hard.values())), "split": "people_compositing.people_split == 'train'",
        "seconds": round(time.time() - t_start, 1)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_detector_weights(args.out, net, DetectorConfig(), metadata)
    log(f"wrote {args.out} after {(time.time() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
