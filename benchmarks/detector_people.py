"""The jewelry detector on street photos of people (``people-parsing``): which worn pieces it finds.

    python benchmarks/detector_people.py [--negatives 200] [--json benchmarks/results/detector-people-parsing.json]

The detector was trained on hands on plain backgrounds (``ring-hands``) with catalogue
cut-outs pasted onto them; ears, necks and wrists in street photos were never measured
(``DETECTOR_CARD.md``). ``people-parsing`` marks every jewelry pixel by type, so each
marked piece (a connected part of one type's pixels, at least ``--min-pixels``) is a
ground truth the detector has never seen. Per type:

* **found (box)**: a detection with box IoU >= 0.5 (scores >= 0.3, the detector's default);
* **found**: one detection's mask covers at least half of the piece's pixels and lies at
  least 10 % on marked jewelry (a box IoU on a 20-pixel stud is too harsh a test for the crop
  the pipeline needs; a mask over half the photo covers every piece but finds none);
* **confident**: found by a detection scoring >= 0.8, the pipeline's ``crop_min_score``:
  only those get the photo cropped to them for the type head;
* the median, over pieces, of the best single detection's cover of the piece.

And per photo: detections (>= 0.3 / >= 0.8) touching no marked jewelry, and detections over a
quarter of the photo, on these photos and on
``--negatives`` photos of people with no jewelry marked. Nothing here decides anything: the
shipped detector, scored once (2026-12-05).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jewel_vision.evaluation.metrics import box_iou
from jewel_vision.training.common import write_report
from jewel_vision.training.data import default_data_root
from jewel_vision.training.people_compositing import people_split
from jewel_vision.training.type_sources import PP_JEWELRY, mask_box, read_people
from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.mask_codec import as_bool_mask
from jewel_vision.vision.predictors.detector import Detector

CONFIDENT = 0.8
MIN_PURITY = 0.1


def pieces(labels: np.ndarray, min_pixels: int) -> list[tuple[str, np.ndarray]]:
    """(type, bool mask) of every connected part of a jewelry type's pixels, at least ``min_pixels``."""
    import cv2

    out = []
    for name, value in PP_JEWELRY.items():
        n, lab, stats, _ = cv2.connectedComponentsWithStats((labels == value).astype(np.uint8), connectivity=8)
        out += [(name, lab == k) for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= min_pixels]
    return out


def score_photo(truth: list[tuple[str, np.ndarray]], items, jewelry: np.ndarray) -> tuple[list[dict], dict]:
    """Per marked piece what the detections did; and the photo's detections on no jewelry.

    A piece is *found* by one detection whose mask covers at least half of its pixels and lies
    at least ``MIN_PURITY`` on marked jewelry: a mask over half the photo covers every piece but
    finds none of them.
    """
    masks = [(as_bool_mask(it.mask, jewelry.shape[::-1]), it) for it in items]
    rows = []
    for name, mask in truth:
        box, n = mask_box(mask), int(mask.sum())
        best_iou, found, confident, covered = 0.0, False, False, 0.0
        for m, it in masks:
            best_iou = max(best_iou, box_iou(box, it.box))
            cover = float((m & mask).sum() / n)
            covered = max(covered, cover)
            if cover >= 0.5 and (m & jewelry).sum() >= MIN_PURITY * max(1, int(m.sum())):
                found = True
                confident = confident or it.score >= CONFIDENT
        rows.append({"type": name, "pixels": n, "box_iou": best_iou, "covered": covered,
                     "found": found, "confident": confident})
    stray = [it for m, it in masks if not (m & jewelry).any()]
    return rows, {"stray": len(stray), "stray_confident": sum(it.score >= CONFIDENT for it in stray),
                  "over_a_quarter": sum(it.area_fraction > 0.25 for it in items)}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for name in sorted({r["type"] for r in rows}):
        rs = [r for r in rows if r["type"] == name]
        out[name] = {
            "pieces": len(rs),
            "median_pixels": float(np.median([r["pixels"] for r in rs])),
            "found_box_iou50": float(np.mean([r["box_iou"] >= 0.5 for r in rs])),
            "found": float(np.mean([r["found"] for r in rs])),
            "confident": float(np.mean([r["confident"] for r in rs])),
            "median_best_cover": float(np.median([r["covered"] for r in rs])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--min-pixels", type=int, default=40)
    ap.add_argument("--negatives", type=int, default=200, help="photos of people with no jewelry marked")
    ap.add_argument("--weights", type=Path, default=None, help="detector weights (default: the shipped ones)")
    ap.add_argument("--split", choices=("all", "test", "train"), default="all",
                    help="score the people of one half of people_compositing.people_split only")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    people = [p for p in read_people(args.data_root or default_data_root())
              if args.split == "all" or people_split(p.name) == args.split]
    wearing = [p for p in people if any(v >= args.min_pixels for v in p.jewelry.values())]
    bare = [p for p in people if not any(p.jewelry.values())][: args.negatives]
    detector = Detector(args.weights, device="cpu")
    rows, strays = [], {"wearing": [], "bare": []}
    for group, persons in (("wearing", wearing), ("bare", bare)):
        for p in persons:
            labels = p.label_map()
            jewelry = np.isin(labels, list(PP_JEWELRY.values()))
            items = detector.detect([load_image(p.path)])[0]
            found, stray = score_photo(pieces(labels, args.min_pixels) if group == "wearing" else [], items, jewelry)
            rows += found
            strays[group].append(stray)
    per_type = summarise(rows)
    for name, s in per_type.items():
        print(f"{name:9s} pieces {s['pieces']:4d}  found (box IoU 0.5) {s['found_box_iou50']:.2f}  "
              f"found {s['found']:.2f}  confident {s['confident']:.2f}  "
              f"median px {s['median_pixels']:.0f}", flush=True)
    stray_summary = {g: {"photos": len(v), "per_photo": float(np.mean([s["stray"] for s in v])) if v else None,
                         "confident_per_photo": float(np.mean([s["stray_confident"] for s in v])) if v else None,
                         "over_a_quarter_of_the_photo_per_photo":
                             float(np.mean([s["over_a_quarter"] for s in v])) if v else None}
                     for g, v in strays.items()}
    print("detections on no jewelry per photo:", stray_summary, flush=True)
    result = {
        "what": "shipped jewelry detector on people-parsing street photos: marked pieces found, per type; "
                "detections on no marked jewelry per photo",
        "date": _dt.date.today().isoformat(), "machine": f"{platform.machine()} {platform.python_version()}",
        "detector": detector.version, "split": args.split, "min_pixels": args.min_pixels, "confident_score": CONFIDENT,
        "per_type": per_type, "all": summarise([dict(r, type="all") for r in rows])["all"] if rows else {},
        "detections_on_no_jewelry": stray_summary, "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        write_report(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
