"""Cross-renderer hallmark evaluation: the full OCR path on renders of two independent renderers.

    python -m jewel_vision.training.eval_ocr_cross --n 150 [--renderers ours,alt] [--split test]

* ``ours``: :func:`jewel_vision.vision.stamps.make_cross_specs` (height-map renderer, the one
  the reader, the gates and the stamp gate were tuned on);
* ``alt``: :func:`jewel_vision.vision.stamps_alt.make_alt_specs` (2-D compositing renderer with
  other fonts, punched/laser/raised marks, shield frames; never used for any choice).

The path is the pipeline's: the photo's embedding (EfficientNet-Lite0, the whole photo), the
stamp gate on it, the text gate where the stamp gate is unsure, then ``HallmarkReader.read``.
A render counts as an **exact match** when the set of normalised marks read equals the set of
marks stamped (``("18K", "750")`` for "18K 750", ``("S925",)`` for "925 CZ"); a mark read in
excess is a miss. Reported overall and per category (two_part, tiny, curved, punched, raised,
laser, framed; ours has no laser marks: its "debossed" counts as punched and "embossed" as raised).

Cost: ``--n-packshots`` drawn catalogue photos (:func:`render_packshot`, seeds disjoint from the
stamp gate's and the text gate's tuning) through the same decision; the fraction read is the
fraction that would pay for OCR.

Writes ``benchmarks/results/ocr-eval-cross-renderer.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image

from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader, ReaderConfig
from jewel_vision.vision.predictors.ocr_engines import HALLMARK_ALPHABET
from jewel_vision.vision.predictors.stamp_gate import StampGate
from jewel_vision.vision.predictors.stamp_recogniser import StampRecogniser
from jewel_vision.vision.stamps import (
    TWO_PART_TEXTS,
    make_cross_specs,
    render_packshot,
    render_spec,
)
from jewel_vision.vision.stamps_alt import make_alt_specs, render_alt_spec, truth_marks

from .common import log, write_report

CATEGORIES = ("two_part", "tiny", "curved", "punched", "raised", "laser", "framed")


def items_ours(n: int, seed: int, split: str, all_tiny: bool = False) -> list[dict[str, Any]]:
    out = []
    for s in make_cross_specs(n, seed, split, all_tiny=all_tiny):
        cats = {"two_part": s.text in TWO_PART_TEXTS, "tiny": s.margin is not None, "curved": s.curved,
                "punched": s.style == "debossed", "raised": s.style == "embossed", "laser": False,
                "framed": s.frame is not None}
        out.append({"text": s.text, "truth": truth_marks(s.text), "categories": cats, "spec": s.as_dict(),
                    "render": lambda s=s: render_spec(s)})
    return out


def items_alt(n: int, seed: int, split: str) -> list[dict[str, Any]]:
    return [{"text": s.text, "truth": s.truth, "categories": s.categories(), "spec": s.as_dict(),
             "render": lambda s=s: render_alt_spec(s)} for s in make_alt_specs(n, seed, split)]


def per_category(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for c in CATEGORIES:
        g = [r["correct"] for r in rows if r["categories"].get(c)]
        if g:
            out[c] = {"n": len(g), "exact_match": round(sum(g) / len(g), 4)}
    g = [r["correct"] for r in rows if not r["categories"]["two_part"]]
    if g:
        out["single"] = {"n": len(g), "exact_match": round(sum(g) / len(g), 4)}
    return out


def evaluate(items: list[dict[str, Any]], reader, embedder, name: str, verbose: bool, batch: int = 16) -> dict[str, Any]:
    rows = []
    for start in range(0, len(items), batch):
        chunk = items[start: start + batch]
        imgs = [it["render"]() for it in chunk]
        vecs = embedder.embed(imgs)
        for it, img, v in zip(chunk, imgs, vecs):
            t = time.perf_counter()
            found = reader.read(img, embedding=v)
            ms = (time.perf_counter() - t) * 1000
            g = reader.last_gate
            marks = sorted({f.normalised for f in found if f.normalised})
            ok = marks == sorted(set(it["truth"]))
            rows.append({"text": it["text"], "truth": list(it["truth"]), "pred": marks, "correct": ok,
                         "read_by": sorted({f.engine.partition("@")[0] for f in found if f.normalised}),
                         "gate": g.reason if g else None, "gate_passed": bool(g.passed) if g else True,
                         "raw": [f.raw for f in found][:4], "ms": round(ms, 1), "size": list(img.size),
                         "categories": it["categories"], "spec": it["spec"]})
            if verbose and not ok:
                cats = ",".join(c for c, v in it["categories"].items() if v)
                log(f"  [{name}] miss {it['text']!r} -> {marks} raw={rows[-1]['raw']} gate={rows[-1]['gate']} [{cats}] {img.size}")
        acc = sum(r["correct"] for r in rows) / len(rows)
        log(f"  [{name}] {len(rows)}/{len(items)} exact={acc:.3f}")
    return {
        "n": len(rows),
        "exact_match": round(sum(r["correct"] for r in rows) / max(1, len(rows)), 4),
        "gate_recall": round(sum(r["gate_passed"] for r in rows) / max(1, len(rows)), 4),
        "nothing_read": sum(1 for r in rows if not r["pred"]),
        "wrong_or_extra": sum(1 for r in rows if r["pred"] and not r["correct"]),
        "ms_per_image_mean": round(statistics.fmean(r["ms"] for r in rows), 1) if rows else None,
        "per_category": per_category(rows),
        "read_by_recogniser": sum(1 for r in rows if StampRecogniser.name in r["read_by"]),
        "right_by_recogniser": sum(1 for r in rows if r["correct"] and StampRecogniser.name in r["read_by"]),
        "misses": [{k: r[k] for k in ("text", "truth", "pred", "raw", "gate", "size")} |
                   {"categories": [c for c, v in r["categories"].items() if v]} for r in rows if not r["correct"]],
    }


def packshot_cost(n: int, reader, embedder) -> dict[str, Any]:
    imgs = [render_packshot(20_000 + i) for i in range(n)]
    vecs = embedder.embed(imgs) if imgs else []
    read = marks = 0
    ms = []
    for img, v in zip(imgs, vecs):
        t = time.perf_counter()
        found = reader.read(img, embedding=v)
        ms.append((time.perf_counter() - t) * 1000)
        read += bool(reader.last_gate and reader.last_gate.passed)
        marks += any(f.normalised for f in found)
    return {"n": n, "ocr_read_rate": round(read / max(1, n), 4), "false_hallmarks": marks,
            "ms_mean": round(statistics.fmean(ms), 2) if ms else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=150, help="renders per renderer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=("test", "tune"), default="test")
    ap.add_argument("--renderers", default="ours,alt")
    ap.add_argument("--n-packshots", type=int, default=100)
    ap.add_argument("--engine", default="rapidocr")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ocr-eval-cross-renderer.json"))
    ap.add_argument("--recogniser", type=Path, default=None,
                    help="stamp recogniser weights (default: the shipped file, when there is one)")
    ap.add_argument("--no-recogniser", action="store_true", help="no last-resort stamp recogniser")
    ap.add_argument("--recogniser-min-score", type=float, default=None)
    ap.add_argument("--locate-looks", default=None,
                    help="comma-separated ReaderConfig.locate_looks to try instead of the shipped ones")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    embedder = Embedder(device="cpu")
    recogniser: StampRecogniser | None | str = "default"
    if args.no_recogniser:
        recogniser = None
    elif args.recogniser:
        recogniser = StampRecogniser(args.recogniser, allowlist=HALLMARK_ALPHABET)
    config = ReaderConfig()
    if args.locate_looks:
        config = dataclasses.replace(config, locate_looks=tuple(x.strip() for x in args.locate_looks.split(",")))
    if args.recogniser_min_score is not None:
        config = dataclasses.replace(config, stamp_recogniser_min_score=args.recogniser_min_score)
    reader = HallmarkReader(args.engine, stamp_gate=StampGate(), recogniser=recogniser, config=config)
    reader.read(Image.new("RGB", (96, 48), (200, 200, 200)), force=True)  # load
    report: dict[str, Any] = {
        "split": args.split, "seed": args.seed, "engine": reader.engine_id,
        "stamp_gate": reader.stamp_gate.full_name if reader.stamp_gate else None,
        "stamp_recogniser": f"{reader.recogniser.name}@{reader.recogniser.version}" if reader.recogniser else None,
        "reader_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(reader.config).items()}
        if hasattr(reader.config, "__dict__") else None,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "threads": os.environ.get("JEWEL_VISION_OCR_THREADS", "default"),
        "tuned_on": "ours (jewel_vision.vision.stamps, tune splits)",
        "renderers": {},
    }
    makers = {"ours": items_ours, "alt": items_alt,
              "ours_tiny": lambda n, seed, split: items_ours(n, seed, split, all_tiny=True)}
    for name in [r.strip() for r in args.renderers.split(",") if r.strip()]:
        t0 = time.perf_counter()
        items = makers[name](args.n, args.seed, args.split)
        r = evaluate(items, reader, embedder, name, args.verbose)
        r["seconds"] = round(time.perf_counter() - t0, 1)
        report["renderers"][name] = r
        log(f"{name}: exact={r['exact_match']:.4f} n={r['n']} gate_recall={r['gate_recall']:.4f} "
            f"nothing={r['nothing_read']} wrong={r['wrong_or_extra']} ms={r['ms_per_image_mean']}")
        for c, d in r["per_category"].items():
            log(f"   {c:9s} {d['exact_match']:.3f} (n={d['n']})")
    if args.n_packshots:
        report["packshots_drawn"] = packshot_cost(args.n_packshots, reader, embedder)
        log(f"packshots: {report['packshots_drawn']}")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
