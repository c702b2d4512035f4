"""``jewel-vision bench``: full-pipeline throughput against the bare embedding, per stage, peak RSS."""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def find_images(folder: str | Path, n: int) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images under {folder}")
    # Spread the sample over the whole folder (sub-folders are often one class each).
    step = max(1, len(paths) // n)
    return paths[::step][:n]


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run(pipeline: Any, paths: list[Path], batch_size: int = 16, warmup: int = 2) -> dict:
    from jewel_vision.vision.types import ImageDecodeError

    data = [p.read_bytes() for p in paths]
    pipeline.warmup()
    pipeline.run_batch(data[:warmup], return_exceptions=True)

    # The reference: the bare embedding network on the same, already decoded, images.
    # Timed before and after the pipeline and the faster run kept, so that a slow spell
    # of a shared machine cannot flatter the pipeline's ratio.
    images = []
    for d in data:
        try:
            images.append(pipeline.decode(d))
        except ImageDecodeError:
            continue
    embedder = pipeline.embedder
    embedder.embed(images[:warmup])

    def reference_seconds() -> float:
        t0 = time.perf_counter()
        for start in range(0, len(images), batch_size):
            embedder.embed(images[start : start + batch_size])
        return time.perf_counter() - t0

    embed_before = reference_seconds()

    stage_totals: dict[str, float] = defaultdict(float)
    done = 0
    started = time.perf_counter()
    for start in range(0, len(data), batch_size):
        for result in pipeline.run_batch(data[start : start + batch_size], return_exceptions=True):
            if isinstance(result, ImageDecodeError):
                continue
            done += 1
            for stage, ms in result.timings_ms.items():
                if stage != "total":
                    stage_totals[stage] += ms
    elapsed = time.perf_counter() - started
    embed_elapsed = min(embed_before, reference_seconds())

    ips = done / elapsed if elapsed else 0.0
    eips = len(images) / embed_elapsed if embed_elapsed else 0.0
    return {
        "n": len(paths),
        "batch_size": batch_size,
        "device": getattr(embedder, "device", "cpu"),
        "images_per_second": ips,
        "embedding_images_per_second": eips,
        "cost_vs_embedding": eips / ips if ips else None,
        "stage_ms": {stage: total / max(done, 1) for stage, total in sorted(stage_totals.items())},
        "peak_rss_mb": peak_rss_mb(),
    }
