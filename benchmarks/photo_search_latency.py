"""End-to-end latency of search by photo through the REST API, with a warm model.

    python benchmarks/photo_search_latency.py [--products 30] [--requests 20] [--json OUT.json]
    python benchmarks/photo_search_latency.py --via worker [--redis redis://127.0.0.1:6379/7] ...

Builds a throw-away demo shop (SQLite in a temporary folder), analyses a catalogue
with the real pipeline (photos from ../shared/datasets/jewelry-types when present,
else drawn ones), then POSTs shopper photos to ``/api/v1/search/photo/`` through
Django's full request stack and reports the request time (p50, p95) and its split
into analysing the photo and searching the index.

``--via in_process`` (the default) analyses the shopper's photo in this process.
``--via worker`` is the production path (``PHOTO_SEARCH = "worker"``): one warm Celery
worker (``-Q jewel_vision_interactive,jewel_vision``, concurrency 1, Redis broker and
result backend, interactive queue first) analyses it; the figures are taken alone, then
with ``--concurrent`` (20) searches at once while a backfill of the whole catalogue runs
on the same worker.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _photos(n: int) -> list[bytes]:
    from shop.catalog import datasets_dir, draw_item

    folder = datasets_dir()
    if folder is not None and (folder / "jewelry-types" / "images").is_dir():
        paths = sorted((folder / "jewelry-types" / "images").rglob("*.jpg"))
        random.Random(0).shuffle(paths)
        return [p.read_bytes() for p in paths[:n]]
    out = []
    for i in range(n):
        buf = io.BytesIO()
        draw_item(("ring", "necklace", "earring", "bracelet")[i % 4], ("gold", "silver")[i % 2], random.Random(i)).save(buf, "JPEG")
        out.append(buf.getvalue())
    return out


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))], 1)


def _sequential(ask, queries: list[bytes], n: int) -> tuple[list[float], list[float], list[float]]:
    total, analyse, search = [], [], []
    for k in range(n):
        ms, body = ask(queries[k % len(queries)])
        total.append(ms)
        analyse.append(body["timings_ms"]["analyse"])
        search.append(body["timings_ms"]["search"])
    return total, analyse, search


def _start_worker(redis_url: str, var_dir: str):
    """One real Celery worker, interactive queue first, warm before it is measured."""
    import subprocess

    env = {**os.environ, "CELERY_BROKER_URL": redis_url, "JEWEL_VISION_VAR_DIR": var_dir, "JEWEL_VISION_PRELOAD": "1",
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "jewel_vision_interactive,jewel_vision",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=open(Path(var_dir) / "worker.log", "ab"), stderr=subprocess.STDOUT,
    )


def _under_load(ask, queries: list[bytes], concurrent: int, Analysis) -> dict:
    """``concurrent`` searches at once while every photo of the catalogue is analysed again on the same worker."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from jewel_vision.analysis import start as analyses
    from shop.models import ProductImage

    for image in ProductImage.objects.all():  # the backfill: every photo, queued on the catalogue queue
        analyses.analyze(image, force=True)
    queued = Analysis.objects.filter(status=Analysis.Status.PENDING).count()

    def one(k: int) -> float:
        try:
            return ask(queries[k % len(queries)])[0]
        finally:
            connection.close()

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrent) as pool:
        total = list(pool.map(one, range(concurrent)))
    wall = time.perf_counter() - t
    left = Analysis.objects.filter(status__in=(Analysis.Status.PENDING, Analysis.Status.RUNNING)).count()
    return {
        "concurrent_searches": concurrent,
        "backfill_analyses_queued": queued,
        "backfill_analyses_still_waiting_after": left,
        "p50_ms": round(statistics.median(total), 1),
        "p95_ms": _p95(total),
        "wall_s": round(wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20, help="at most 29: the API throttles photo search at 30/min")
    parser.add_argument("--json", metavar="OUT.json")
    parser.add_argument("--via", choices=("in_process", "worker"), default="in_process")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7", help="broker and result backend (--via worker)")
    parser.add_argument("--concurrent", type=int, default=20, help="searches at once during the backfill (--via worker)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="jv-photo-bench-")
    os.environ["JEWEL_VISION_VAR_DIR"] = tmp
    os.environ["JEWEL_VISION_PHOTO_SEARCH"] = args.via
    if args.via == "worker":
        os.environ["CELERY_BROKER_URL"] = args.redis
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    os.environ.setdefault("JEWEL_VISION_INDEX_BACKEND", "exact")
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's "testserver" host
    call_command("migrate", verbosity=0)
    import jewel_vision.analysis.start as analyses
    from jewel_vision.analysis.run import run_analysis
    from jewel_vision.models import Analysis
    from jewel_vision.registry import configured_pipeline
    from shop.models import Product, ProductImage

    global ORIGINAL_ENQUEUE
    ORIGINAL_ENQUEUE = analyses.enqueue
    analyses.enqueue = lambda pk: True  # the catalogue is analysed inline below, no broker needed
    pipeline = configured_pipeline()
    pipeline.warmup()
    photos = _photos(args.products + args.requests)
    t0 = time.perf_counter()
    for i, data in enumerate(photos[: args.products]):
        product = Product.objects.create(name=f"Piece {i}", sku=f"B-{i}", price=100 + i, stock=1)
        image = ProductImage.objects.create(product=product, image=ContentFile(data, name=f"p{i}.jpg"))
        run_analysis(Analysis.objects.get(image_id=str(image.pk), is_current=True).pk)
    print(f"catalogue of {args.products} products analysed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    queries = photos[args.products:] or photos[:1]

    def ask(data: bytes):
        t = time.perf_counter()
        response = Client().post("/api/v1/search/photo/", {"image": ContentFile(data, name="shopper.jpg")})
        ms = (time.perf_counter() - t) * 1000
        if response.status_code != 200:
            raise SystemExit(f"search by photo failed: {response.status_code} {response.content[:300]!r}")
        return ms, response.json()

    if args.via == "worker":
        from django.conf import settings
        from django.test.utils import override_settings

        # The benchmark asks faster than the shopper throttle allows.
        override_settings(JEWEL_VISION={**settings.JEWEL_VISION, "PHOTO_SEARCH_TIMEOUT": 300,
                                        "API_THROTTLE_RATES": {"anon": None, "user": None, "photo_search": None}}).enable()
        analyses.enqueue = ORIGINAL_ENQUEUE
        worker = _start_worker(args.redis, tmp)
    try:
        ask(queries[0])  # warm: index loaded (and, on a worker, its models)
        total, analyse, search = _sequential(ask, queries, args.requests)
        figures = {
            "via": args.via,
            "requests": len(total),
            "catalogue_products": args.products,
            "p50_ms": round(statistics.median(total), 1),
            "p95_ms": _p95(total),
            "analyse_p50_ms": round(statistics.median(analyse), 1),
            "search_p50_ms": round(statistics.median(search), 1),
            "pipeline": pipeline.version,
        }
        if args.via == "worker":
            figures["under_load"] = _under_load(ask, queries, args.concurrent, Analysis)
            figures["notes"] = ("one warm worker (prefork, concurrency 1) on jewel_vision_interactive and jewel_vision, "
                                "Redis broker and result backend with queue_order_strategy=priority")
        if hasattr(os, "getloadavg"):  # a shared machine: latency follows what else runs
            figures["load_average_at_end"] = round(os.getloadavg()[0], 2)
    finally:
        if args.via == "worker":
            worker.terminate()
            worker.wait(timeout=60)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
