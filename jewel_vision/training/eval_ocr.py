"""Hallmark OCR evaluation on rendered stamps (held-out TEST split) + the OCR gate.

    python -m jewel_vision.training.eval_ocr --n 200 [--engine rapidocr|easyocr|both]

What it does
------------
1. Renders ``--n`` stamps of the **test** split of :mod:`jewel_vision.vision.stamps`
   (seed range disjoint from the ``tune`` split used to choose the reader's passes and
   thresholds, plus two fonts the tune split never uses), balanced over
   debossed/embossed x curved/flat x yellow/white/rose, with small text (14-18 px) and
   blur (sigma 0.9-1.6 px) drawn independently for ~40% of stamps each.
2. For each engine, runs :class:`~jewel_vision.vision.predictors.hallmark_reader.HallmarkReader` with
   ``force=True`` (the gate is measured separately) and scores **exact match of the
   normalised hallmark**: the canonical mark of the first finding equals
   ``parse_hallmark(stamped_text).mark``. Reported overall and per condition, with ms/image.
3. Gate: recall on the same stamps, and the pass rate (false positives) on plain packshots -
   photos from ``--packshots`` (default ``../shared/datasets/jewelry-types``, a deterministic
   sample of ``--n-packshots``) and drawn packshots (:func:`render_packshot`) - with its cost
   in ms; also how many packshots end up with a (false) hallmark after the whole reader.

Writes ``benchmarks/ocr_eval.json`` (``--out``). ``--split tune`` evaluates on the tune
split instead (for tuning only; never quote it as a result).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

from jewel_vision.vision.hallmarks import parse_hallmark
from jewel_vision.vision.predictors.embedder import Embedder
from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader
from jewel_vision.vision.predictors.stamp_gate import StampGate
from jewel_vision.vision.stamps import (
    available_fonts,
    cjk_font_path,
    make_stamp_specs,
    render_packshot,
    render_spec,
)

from .common import log, write_report

DEFAULT_PACKSHOTS = Path("../shared/datasets/jewelry-types")


def _conditions(spec) -> dict[str, str]:
    return {
        "style": spec.style,
        "surface": "curved" if spec.curved else "flat",
        "metal": spec.metal,
        "size": "small" if spec.small else "normal",
        "blur": "blurred" if spec.blurred else "sharp",
        "small+blurred": "yes" if (spec.small and spec.blurred) else "no",
    }


def _acc_table(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    keys = rows[0]["conditions"].keys() if rows else []
    for key in keys:
        groups: dict[str, list[bool]] = defaultdict(list)
        for r in rows:
            groups[r["conditions"][key]].append(r["correct"])
        out[key] = {v: {"n": len(g), "exact_match": round(sum(g) / len(g), 4)} for v, g in sorted(groups.items())}
    return out


def load_packshots(folder: Path, n: int) -> list[tuple[str, Image.Image]]:
    manifest = folder / "manifest.csv"
    if n <= 0 or not manifest.is_file():
        return []
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    step = max(1, len(rows) // n)
    out = []
    for r in rows[::step][:n]:
        try:
            with Image.open(folder / r["path"]) as im:
                out.append((r["path"], im.convert("RGB")))
        except OSError:
            continue
    return out


def evaluate_engine(name: str, data: list[tuple[Any, Image.Image]], reader_cls, verbose: bool) -> dict[str, Any]:
    reader = reader_cls(name)
    t0 = time.perf_counter()
    reader.engine.load()
    reader.engine.read(Image.new("RGB", (96, 48), (200, 200, 200)))  # warm-up
    load_s = time.perf_counter() - t0
    rows = []
    for i, (spec, img) in enumerate(data):
        gt = parse_hallmark(spec.text).mark
        t = time.perf_counter()
        found = reader.read(img, force=True)
        ms = (time.perf_counter() - t) * 1000
        pred = next((f.normalised for f in found if f.normalised), None)
        rows.append({
            "text": spec.text, "truth": gt, "pred": pred, "correct": pred == gt, "ms": round(ms, 1),
            "passes": reader.last_timings.get("passes", 0.0), "raw": [f.raw for f in found][:4],
            "conditions": _conditions(spec), "spec": spec.as_dict(),
        })
        if verbose and pred != gt:
            log(f"  [{name}] miss {spec.text!r} -> {pred!r} raw={rows[-1]['raw']} {_conditions(spec)}")
        if (i + 1) % 25 == 0:
            acc = sum(r["correct"] for r in rows) / len(rows)
            log(f"  [{name}] {i + 1}/{len(data)} exact={acc:.3f}")
    times = [r["ms"] for r in rows]
    return {
        "engine": name,
        "engine_version": reader.engine.version,
        "passes_config": list(reader.config.passes),
        "n": len(rows),
        "exact_match": round(sum(r["correct"] for r in rows) / max(1, len(rows)), 4),
        "wrong_hallmark": sum(1 for r in rows if r["pred"] is not None and not r["correct"]),
        "no_hallmark": sum(1 for r in rows if r["pred"] is None),
        "ms_per_image_mean": round(statistics.fmean(times), 1) if times else None,
        "ms_per_image_median": round(statistics.median(times), 1) if times else None,
        "mean_passes": round(statistics.fmean(r["passes"] for r in rows), 3) if rows else None,
        "load_s": round(load_s, 2),
        "per_condition": _acc_table(rows),
        "correct": [bool(r["correct"]) for r in rows],
        "misses": [
            {k: r[k] for k in ("text", "truth", "pred", "raw", "conditions")} for r in rows if not r["correct"]
        ],
    }


def evaluate_gate(stamps: list[Image.Image], packshots: list[tuple[str, Image.Image]], reader_cls) -> dict[str, Any]:
    """The pipeline's decision (stamp gate on the embedding, then the text gate) and the text gate alone."""
    reader = reader_cls("rapidocr", stamp_gate=StampGate())
    reader.gate(Image.new("RGB", (96, 48), (200, 200, 200)))  # warm-up
    embedder = Embedder(device="cpu")

    def decisions(images: list[Image.Image]) -> tuple[list, list]:
        vectors = embedder.embed(images) if images else []
        return [reader.decide(im, v) for im, v in zip(images, vectors)], [reader.gate(im) for im in images]

    res: dict[str, Any] = {"stamp_gate": reader.stamp_gate.full_name,
                           "thresholds": {"low": reader.stamp_gate.low, "high": reader.stamp_gate.high}}
    st, st_text = decisions(stamps)
    res["stamps"] = {
        "n": len(st), "recall": round(sum(g.passed for g in st) / max(1, len(st)), 4),
        "recall_text_gate_alone": round(sum(g.passed for g in st_text) / max(1, len(st)), 4),
        "ms_mean": round(statistics.fmean(g.ms for g in st), 1) if st else None,
        "passed": [bool(g.passed) for g in st],
    }
    groups: dict[str, list[tuple[str, Image.Image]]] = defaultdict(list)
    for name, im in packshots:
        groups["dataset" if not name.startswith("drawn:") else "drawn"].append((name, im))
    for group, items in groups.items():
        gs, gs_text = decisions([im for _, im in items])
        false_marks = 0
        passed_names = []
        for (name, im), g in zip(items, gs):
            if g.passed:
                passed_names.append(name)
                found = reader.read(im, force=True)
                if any(f.normalised for f in found):
                    false_marks += 1
        res[f"packshots_{group}"] = {
            "n": len(gs), "pass_rate": round(sum(g.passed for g in gs) / max(1, len(gs)), 4),
            "pass_rate_text_gate_alone": round(sum(g.passed for g in gs_text) / max(1, len(gs)), 4),
            "ms_mean": round(statistics.fmean(g.ms for g in gs), 1) if gs else None,
            "false_hallmarks_after_reader": false_marks, "passed_examples": passed_names[:10],
        }
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="number of test stamps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=("test", "tune"), default="test")
    ap.add_argument("--engine", choices=("rapidocr", "easyocr", "both"), default="both")
    ap.add_argument("--packshots", type=Path, default=DEFAULT_PACKSHOTS, help="folder with manifest.csv")
    ap.add_argument("--n-packshots", type=int, default=150, help="dataset packshots for the gate (0: none)")
    ap.add_argument("--n-drawn", type=int, default=50, help="drawn packshots for the gate")
    ap.add_argument("--no-gate", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/ocr_eval.json"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    specs = make_stamp_specs(args.n, args.seed, args.split)
    data = [(s, render_spec(s)) for s in specs]
    log(f"rendered {len(data)} {args.split} stamps in {time.perf_counter() - t0:.1f}s")

    report: dict[str, Any] = {
        "split": args.split, "seed": args.seed, "n": len(data),
        "fonts": [os.path.basename(f) for f in available_fonts()],
        "cjk_font": cjk_font_path(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "threads": os.environ.get("JEWEL_VISION_OCR_THREADS", "default"),
        "engines": {},
    }
    engines = ("rapidocr", "easyocr") if args.engine == "both" else (args.engine,)
    for name in engines:
        log(f"engine {name} ...")
        r = evaluate_engine(name, data, HallmarkReader, args.verbose)
        report["engines"][name] = r
        log(f"{name}: exact={r['exact_match']:.4f} (n={r['n']}) wrong={r['wrong_hallmark']} "
            f"none={r['no_hallmark']} ms/img mean={r['ms_per_image_mean']} median={r['ms_per_image_median']}")
        for key, table in r["per_condition"].items():
            log(f"   {key:14s} " + "  ".join(f"{v}={d['exact_match']:.3f} (n={d['n']})" for v, d in table.items()))

    if not args.no_gate:
        packshots = load_packshots(args.packshots, args.n_packshots)
        packshots += [(f"drawn:{i}", render_packshot(10_000 + i)) for i in range(args.n_drawn)]
        log(f"gate on {len(data)} stamps and {len(packshots)} packshots ...")
        report["gate"] = evaluate_gate([im for _, im in data], packshots, HallmarkReader)
        log(json.dumps(report["gate"], indent=1))

        gate_pass = report["gate"]["stamps"]["passed"]
        for name, r in report["engines"].items():
            both = [c and g for c, g in zip(r["correct"], gate_pass)]
            r["end_to_end_with_gate"] = round(sum(both) / max(1, len(both)), 4)
            log(f"{name}: end-to-end (gate, then OCR) exact={r['end_to_end_with_gate']:.4f}")
        missed = [data[i][0] for i, g in enumerate(gate_pass) if not g]
        report["gate"]["stamps"]["missed"] = [
            {"text": s.text, **_conditions(s)} for s in missed
        ]

    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
