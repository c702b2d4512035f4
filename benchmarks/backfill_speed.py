"""Backfill with one worker against ``jewel-vision bench`` on the same photos, batched and one at a time.

    python benchmarks/backfill_speed.py --images ../shared/datasets/jewelry-types/images --n 96 \
        [--batch-size 8] [--json benchmarks/results/backfill-speed.json]

1. ``jewel-vision bench``'s measurement (``evaluation.bench.run``) on the photos, at batch 16
   (its default), at the worker's batch size and at batch 1 (one photo per task).
2. A throw-away catalogue (SQLite in a temporary folder) of one product per photo; for each
   ``ANALYSIS_BATCH_SIZE`` (``--batch-size``, then 1: one photo per task, as before issue
   12.3) one real ``celery worker --pool solo`` over Redis (``--broker``), warmed up on one
   photo, then a backfill of every photo stepped from this process as the terminal command
   does (the products of those photos: the second run analyses the same photos again),
   timed from its first step to its summary.
The bench and the backfills alternate (bench 16, backfill batched, bench 1, backfill one at
a time, bench 16 again), so a machine shared with other work loads them alike; the bench
figure compared with is the mean of the two batch-16 runs. Reports photos per second of
each and each backfill's throughput as a share of the bench's (issue 11: within 10 %), and
the same in photos per CPU-second (the worker process's, and the bench's timed loop run once
more under ``time.process_time``), which a machine busy with other work distorts far less
than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_worker(work: Path, env: dict[str, str], batch_size: int) -> subprocess.Popen:
    """One solo-pool worker whose settings set ``ANALYSIS_BATCH_SIZE``."""
    module = f"bench_settings_b{batch_size}"
    (work / f"{module}.py").write_text(
        "from shop.settings import *  # noqa: F401,F403\n"
        f"JEWEL_VISION = {{**JEWEL_VISION, 'ANALYSIS_BATCH_SIZE': {batch_size}}}  # noqa: F405\n"
    )
    log = open(work / f"worker-b{batch_size}.log", "wb")
    worker_env = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": f"{ROOT}:{work}"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "jewel_vision", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (the solo-pool worker)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def timed_backfill(
    work: Path, env: dict[str, str], batch_size: int, images: list, warm_image
) -> tuple[float, float, dict]:
    """Wall and worker CPU seconds of one backfill of ``images`` (their products, analysed again), and its summary."""
    from jewel_vision.analysis import backfill
    from jewel_vision.analysis.start import analyze
    from jewel_vision.models import Analysis

    worker = start_worker(work, env, batch_size)
    try:
        warm = analyze(warm_image, force=True)
        deadline = time.monotonic() + 600
        while Analysis.objects.get(pk=warm.pk).status not in ("done", "failed"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not analyse the warm-up photo; see {work}/worker-b{batch_size}.log")
            time.sleep(0.2)
        products = [str(image.product_id) for image in images]
        run = backfill.start("products", product_ids=products, rate=1000, max_in_flight=1000, on_workers=False)
        cpu_before = cpu_seconds(worker.pid)
        began = time.perf_counter()
        run = backfill.run_here(run, timeout=3600)
        seconds = time.perf_counter() - began
        cpu = cpu_seconds(worker.pid) - cpu_before
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
    return seconds, cpu, run.summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8, help="the worker's ANALYSIS_BATCH_SIZE (8: the CPU default)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)

    from jewel_vision.evaluation import bench
    from jewel_vision.vision.pipeline import PipelineConfig, get_pipeline

    paths = bench.find_images(args.images, args.n)
    pipeline = get_pipeline(PipelineConfig())

    photos = [p.read_bytes() for p in paths]

    def bench_rate(size: int) -> float:
        rate = bench.run(pipeline, paths, batch_size=size)["images_per_second"]
        # The bench's timed loop again, in CPU seconds of this process (all its threads).
        cpu0 = time.process_time()
        for start in range(0, len(photos), size):
            pipeline.run_batch(photos[start : start + size], return_exceptions=True)
        cpu_rate.setdefault(size, []).append(len(photos) / (time.process_time() - cpu0))
        print(f"bench at batch {size}: {rate:.2f} photos/s, {cpu_rate[size][-1]:.2f} photos per CPU-second", flush=True)
        return rate

    cpu_rate: dict[int, list[float]] = {}

    import redis

    from benchmarks.throwaway_shop import add_products, open_shop

    redis.Redis.from_url(args.broker).flushdb()
    work = Path(tempfile.mkdtemp(prefix="jv-backfill-speed-"))
    env = open_shop(work, args.broker)
    images = add_products(paths)
    (warm_image,) = add_products(paths[:1], prefix="Warm")

    load = [os.getloadavg()[0]]
    bench16 = [bench_rate(16)]
    bench_b = bench_rate(args.batch_size) if args.batch_size not in (1, 16) else None
    backfills = {}
    for size in (args.batch_size, 1):
        seconds, cpu, summary = timed_backfill(work, env, size, images, warm_image)
        rate = summary.get("done", 0) / seconds if seconds else 0.0
        backfills[size] = {"seconds": round(seconds, 1), "photos_per_second": round(rate, 3),
                           "worker_cpu_seconds": round(cpu, 1),
                           "photos_per_worker_cpu_second": round(summary.get("done", 0) / cpu, 3), "summary": summary}
        print(f"backfill, one worker, ANALYSIS_BATCH_SIZE {size}: {rate:.2f} photos/s ({seconds:.1f} s), "
              f"{backfills[size]['photos_per_worker_cpu_second']:.2f} photos per worker CPU-second", flush=True)
        load.append(os.getloadavg()[0])
        if size == args.batch_size:
            bench1 = bench_rate(1)
    bench16.append(bench_rate(16))
    load.append(os.getloadavg()[0])
    ref = sum(bench16) / len(bench16)
    cpu_ref = sum(cpu_rate[16]) / len(cpu_rate[16])
    batched, single = backfills[args.batch_size], backfills[1]
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "photos": len(paths),
        "images": str(args.images),
        "cpu_count": os.cpu_count(),
        "load_average_1min": [round(x, 2) for x in load],
        "bench_batch16_photos_per_second_runs": [round(x, 3) for x in bench16],
        "bench_batch16_photos_per_second": round(ref, 3),
        "bench_batch1_photos_per_second": round(bench1, 3),
        "worker_batch_size": args.batch_size,
        "backfill_batched_photos_per_second": batched["photos_per_second"],
        "backfill_one_at_a_time_photos_per_second": single["photos_per_second"],
        "backfill_batched_vs_bench_batch16": round(batched["photos_per_second"] / ref, 3),
        "backfill_one_at_a_time_vs_bench_batch16": round(single["photos_per_second"] / ref, 3),
        "backfill_batched_vs_one_at_a_time": round(batched["photos_per_second"] / single["photos_per_second"], 3),
        # CPU time is what a machine shared with other work distorts least (see load_average_1min).
        "bench_batch16_photos_per_cpu_second": round(cpu_ref, 3),
        "bench_photos_per_cpu_second_runs": {size: [round(x, 3) for x in runs] for size, runs in cpu_rate.items()},
        "backfill_batched_vs_bench_batch16_cpu": round(batched["photos_per_worker_cpu_second"] / cpu_ref, 3),
        "backfill_one_at_a_time_vs_bench_batch16_cpu": round(single["photos_per_worker_cpu_second"] / cpu_ref, 3),
        "backfill_batched": batched,
        "backfill_one_at_a_time": single,
    }
    if bench_b is not None:
        out[f"bench_batch{args.batch_size}_photos_per_second"] = round(bench_b, 3)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
