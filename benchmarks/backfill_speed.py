"""Backfill with one worker against ``jewel-vision bench`` on the same photos.

    python benchmarks/backfill_speed.py --images ../shared/datasets/jewelry-types/images --n 48 \
        [--json benchmarks/results/backfill-speed.json]

1. ``jewel-vision bench``'s measurement (``evaluation.bench.run``) on the photos, at batch 16
   (its default) and at batch 1 (what one analysis task runs).
2. A throw-away catalogue (SQLite in a temporary folder) of one product per photo, never
   analysed; one real ``celery worker --pool solo`` over Redis (``--broker``), warmed up on
   one photo; then a backfill of every photo stepped from this process as the terminal
   command does, timed from its first step to its summary.
Reports photos per second of each, and the backfill's throughput as a share of the bench's.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)

    from jewel_vision.evaluation import bench
    from jewel_vision.vision.pipeline import PipelineConfig, get_pipeline

    paths = bench.find_images(args.images, args.n)
    pipeline = get_pipeline(PipelineConfig())
    bench16 = bench.run(pipeline, paths, batch_size=16)
    bench1 = bench.run(pipeline, paths, batch_size=1)
    print(f"bench: {bench16['images_per_second']:.2f} photos/s at batch 16, {bench1['images_per_second']:.2f} at batch 1")

    work = Path(tempfile.mkdtemp(prefix="jv-backfill-speed-"))
    env = {"JEWEL_VISION_VAR_DIR": str(work), "JEWEL_VISION_MEDIA_ROOT": str(work / "media"),
           "DJANGO_SETTINGS_MODULE": "shop.settings", "DJANGO_DEBUG": "1", "CELERY_BROKER_URL": args.broker,
           "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "PYTHONPATH": str(ROOT)}
    os.environ.update(env)
    import django
    import redis

    redis.Redis.from_url(args.broker).flushdb()
    django.setup()
    from django.conf import settings
    from django.test import override_settings
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    from jewel_vision.analysis import backfill
    from jewel_vision.analysis.start import analyze
    from jewel_vision.models import Analysis
    from shop.models import Product, ProductImage

    call_command("migrate", verbosity=0)
    # Through override_settings, so the upload signals are disconnected (setting_changed).
    override_settings(JEWEL_VISION={**settings.JEWEL_VISION, "AUTO_ANALYZE": False}).enable()
    images = []
    for k, path in enumerate(paths):
        product = Product.objects.create(name=f"Bench {k}", sku=f"BENCH-{k}", stock=1)
        images.append(ProductImage.objects.create(product=product, image=ContentFile(path.read_bytes(), name=path.name)))
    warm = Product.objects.create(name="Warm-up", sku="WARM")
    warm_image = ProductImage.objects.create(product=warm, image=ContentFile(paths[0].read_bytes(), name="warm.jpg"))
    log = open(work / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "jewel_vision", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        warm_analysis = analyze(warm_image)
        deadline = time.monotonic() + 600
        while Analysis.objects.get(pk=warm_analysis.pk).status not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker did not analyse the warm-up photo; see {work / 'worker.log'}")
            time.sleep(0.5)
        run = backfill.start("new", rate=1000, max_in_flight=64, on_workers=False)
        began = time.perf_counter()
        run = backfill.run_here(run, timeout=3600)
        seconds = time.perf_counter() - began
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
    done = run.summary.get("done", 0)
    backfill_ips = done / seconds if seconds else 0.0
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "photos": len(paths),
        "images": str(args.images),
        "bench_batch16_photos_per_second": round(bench16["images_per_second"], 3),
        "bench_batch1_photos_per_second": round(bench1["images_per_second"], 3),
        "backfill_one_worker_photos_per_second": round(backfill_ips, 3),
        "backfill_seconds": round(seconds, 1),
        "backfill_summary": run.summary,
        "backfill_vs_bench_batch16": round(backfill_ips / bench16["images_per_second"], 3),
        "backfill_vs_bench_batch1": round(backfill_ips / bench1["images_per_second"], 3),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
