"""Jewelry detector speed (and optionally accuracy) on held-out ring-hands photos.

    python benchmarks/detector_speed.py [--n 30] [--threads 1] [--weights PATH] [--eval N] [--json]

Prints ms/image for ``Detector.detect`` on 800x600 photos, one at a time, after
a warm-up; ``--eval N`` also runs ``evaluate_detector`` on N held-out rows.
Needs the shared datasets (``$JEWEL_VISION_DATASETS`` or ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30, help="photos to time")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--eval", type=int, default=0, help="also evaluate on this many held-out rows")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    from PIL import Image

    from jewel_vision.training.data import heldout_ring_rows
    from jewel_vision.training.eval_detector import evaluate_detector
    from jewel_vision.vision.predictors.detector import Detector

    torch.set_num_threads(args.threads)
    rows = heldout_ring_rows(n=max(args.n, args.eval or 0))
    det = Detector(args.weights, device=args.device)
    t0 = time.perf_counter()
    det.load()
    load_ms = 1000 * (time.perf_counter() - t0)
    images = []
    for r in rows[: args.n]:
        with Image.open(r.path) as im:
            images.append(im.convert("RGB"))
    det.detect(images[:2])
    times = []
    for img in images:
        t0 = time.perf_counter()
        det.detect([img])
        times.append(1000 * (time.perf_counter() - t0))
    out = {
        "device": det.device,
        "threads": args.threads,
        "version": det.version,
        "load_ms": round(load_ms, 1),
        "n": len(times),
        "ms_per_image_mean": round(statistics.mean(times), 1),
        "ms_per_image_median": round(statistics.median(times), 1),
    }
    if args.eval:
        det.score_threshold = 0.05
        out["eval"] = evaluate_detector(det, rows[: args.eval])
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
