"""The CUDA path, measured in one run of under 5 minutes: embedding fp32 vs fp16, the full pipeline, the worker's batches.

    python benchmarks/gpu_bench.py [--images DIR] [--n 256] [--batch-sizes 1,16,64]
        [--precisions fp32,fp16] [--fp16] [--worker-path] [--processes 1,4,8] [--budget 240]
        [--json OUT.json] [--device cuda]

The prepared device check (issue 12.3): ``python benchmarks/gpu_bench.py --device cuda --fp16
--worker-path --budget 240``.

For each batch size: the bare EfficientNet-Lite0 embedding in each precision (images per
second on already decoded photos), then the full pipeline (``jewel-vision bench``'s
measurement: images per second, ms per stage, the cost against the embedding). Runs are
skipped once ``--budget`` seconds have gone, so the whole script fits a short device
lease. Writes JSON (default ``$OUT/gpu-bench.json`` when ``$OUT`` is set). Exits 3 when
the device is not there, so a CPU-only machine says so instead of measuring the CPU.
``--device cpu --precisions fp32`` runs the same code on the CPU (the test suite does, on
a few photos, so the script cannot rot unseen).

``--fp16``: the pipeline's embedder in half precision (what ``"auto"`` picks on CUDA) and only
the fp16 embedding runs. ``--worker-path``: for each batch size, the worker's own batch path
(:func:`jewel_vision.analysis.run.run_analysis` with ``batch_size``: claim in the database,
``Pipeline.run_batch``, store each photo) in-process on a throw-away SQLite shop, photos per
second from the first claim to the last store (Celery and a broker left out: nothing to run
beside the script on a lent machine). ``--processes 1,4,8``: that many processes, each with its
own pipeline on the device, run every photo in batches of the last ``--batch-sizes`` at once;
their photos per second together (what ``celery worker --concurrency P`` on one GPU can give).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def default_images() -> Path:
    from jewel_vision.training.data import default_data_root

    return default_data_root() / "jewelry-types" / "images"


def embedding_rate(images: list, device: str, precision: str, batch_size: int) -> float:
    """Images per second of the bare embedding (best of two passes, after a warm-up)."""
    import torch

    from jewel_vision.vision.predictors.embedder import Embedder

    emb = Embedder(device=device, batch_size=batch_size, precision=precision)
    emb.embed(images[: max(2, batch_size)])
    best = float("inf")
    for _ in range(2):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        emb.embed(images)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def worker_path_rates(paths: list[Path], pipeline, sizes: list[int], over_budget) -> list[dict]:
    """Photos per second through the worker's batch path at each ``ANALYSIS_BATCH_SIZE``."""
    import tempfile

    from benchmarks.throwaway_shop import add_products, open_shop

    open_shop(Path(tempfile.mkdtemp(prefix="jv-gpu-bench-")))
    from django.db import transaction

    from jewel_vision.analysis.run import run_analysis
    from jewel_vision.analysis.start import analyze
    from jewel_vision.models import Analysis

    images = add_products(paths)
    pending = Analysis.objects.filter(status=Analysis.Status.PENDING, is_current=True).order_by("pk")
    rates = []
    for size in sizes:
        if over_budget(f"worker path b{size}"):
            continue
        with transaction.atomic():
            for image in images:
                analyze(image, force=True)
        pipeline.embedder.batch_size = size
        t0 = time.perf_counter()
        tasks = 0
        while (pk := pending.values_list("pk", flat=True).first()) is not None:
            run_analysis(pk, pipeline, batch_size=size)
            tasks += 1
        seconds = time.perf_counter() - t0
        done = Analysis.objects.filter(status=Analysis.Status.DONE, is_current=True).count()
        rates.append({"batch_size": size, "photos": done, "tasks": tasks, "seconds": seconds,
                      "images_per_second": done / seconds})
        print(f"worker     batch {size:3d}  {done / seconds:8.1f} img/s  ({done} photos, {tasks} tasks)", flush=True)
    return rates


def _process_run(device: str, paths: list[str], batch_size: int, ready, go, results) -> None:
    """One worker process: load the pipeline, decode, warm up, wait for the others, run the batches."""
    from jewel_vision.vision.pipeline import Pipeline, PipelineConfig

    pipeline = Pipeline(PipelineConfig(device=device))
    pipeline.embedder.batch_size = batch_size
    photos = [Path(p).read_bytes() for p in paths]
    pipeline.run_batch(photos[:batch_size], return_exceptions=True)
    ready.put(1)
    go.wait()
    t0 = time.time()
    done = 0
    for i in range(0, len(photos), batch_size):
        done += sum(not isinstance(r, Exception) for r in pipeline.run_batch(photos[i:i + batch_size], return_exceptions=True))
    results.put((t0, time.time(), done))


def process_rates(paths: list[Path], device: str, batch_size: int, counts: list[int], over_budget) -> list[dict]:
    """Photos per second of P worker processes sharing the device, each running every photo in batches.

    A GPU worker is bound by the pipeline's CPU stages (attributes, the packshot mask, stones)
    long before the GPU is busy, so a GPU host runs several worker processes per GPU
    (``celery worker --concurrency P``); this measures what that buys.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    rates = []
    for count in counts:
        if over_budget(f"processes {count}"):
            continue
        threads = max(1, (os.cpu_count() or 1) // count)  # the host's cores shared out, as a worker pool should
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by each child as it starts
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=_process_run, args=(device, [str(p) for p in paths], batch_size, ready, go, results))
                 for _ in range(count)]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=300)
        go.set()
        ends = [results.get(timeout=600) for _ in procs]
        for proc in procs:
            proc.join()
        seconds = max(e[1] for e in ends) - min(e[0] for e in ends)
        done = sum(e[2] for e in ends)
        rates.append({"processes": count, "threads_each": threads, "batch_size": batch_size, "photos": done, "seconds": seconds,
                      "images_per_second": done / seconds})
        print(f"processes {count:2d}  batch {batch_size:3d}  {done / seconds:8.1f} img/s  ({done} photos)", flush=True)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=None, help="folder of photos (default: jewelry-types)")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--fp16", action="store_true", help="the pipeline's embedder in fp16; only the fp16 embedding runs")
    parser.add_argument("--worker-path", action="store_true", help="also the worker's batch path (in-process, SQLite)")
    parser.add_argument("--processes", default="",
                        help="e.g. 1,4,8: that many pipeline processes sharing the device, batches of the last --batch-sizes")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds; later runs are skipped after it")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import torch

    from jewel_vision.evaluation import bench
    from jewel_vision.vision.pipeline import Pipeline, PipelineConfig

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing to measure", file=sys.stderr)
        return 3
    paths = bench.find_images(args.images or default_images(), args.n)
    sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    precisions = ["fp16"] if args.fp16 else [p for p in args.precisions.split(",") if p]
    out: dict = {
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "n": len(paths),
        "embedding": [],
        "pipeline": [],
        "skipped": [],
    }
    pipeline = Pipeline(PipelineConfig(device=args.device))
    if args.fp16:
        pipeline.embedder.precision = "fp16"  # before its model loads
    out["pipeline_precision"] = pipeline.embedder.precision
    images = [pipeline.decode(p.read_bytes()) for p in paths]

    def over_budget(what: str) -> bool:
        if time.perf_counter() - started > args.budget:
            out["skipped"].append(what)
            return True
        return False

    for size in sizes:
        for precision in precisions:
            if over_budget(f"embedding b{size} {precision}"):
                continue
            rate = embedding_rate(images, args.device, precision, size)
            out["embedding"].append({"batch_size": size, "precision": precision, "images_per_second": rate})
            print(f"embedding  batch {size:3d}  {precision}  {rate:8.1f} img/s", flush=True)
        if over_budget(f"pipeline b{size}"):
            continue
        pipeline.embedder.batch_size = size
        res = bench.run(pipeline, paths, batch_size=size)
        out["pipeline"].append(res)
        print(f"pipeline   batch {size:3d}  {res['images_per_second']:8.1f} img/s  "
              f"{res['cost_vs_embedding']:.2f}x the embedding  "
              + "  ".join(f"{k} {v:.1f}" for k, v in res["stage_ms"].items()), flush=True)
    if args.worker_path:
        out["worker_path"] = worker_path_rates(paths, pipeline, sizes, over_budget)
    if args.processes:
        counts = [int(c) for c in args.processes.split(",") if c]
        out["processes"] = process_rates(paths, args.device, sizes[-1], counts, over_budget)
    if args.device.startswith("cuda"):
        out["gpu_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    out["seconds"] = time.perf_counter() - started
    target = args.json or (Path(os.environ["OUT"]) / "gpu-bench.json" if os.environ.get("OUT") else None)
    if target:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(out, indent=2))
        print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
