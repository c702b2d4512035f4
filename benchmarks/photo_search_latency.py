"""End-to-end latency of search by photo through the REST API, with a warm model.

    python benchmarks/photo_search_latency.py [--products 30] [--requests 20] [--json OUT.json]

Builds a throw-away demo shop (SQLite in a temporary folder), analyses a catalogue
with the real pipeline (photos from ../shared/datasets/jewelry-types when present,
else drawn ones), then POSTs shopper photos to ``/api/v1/search/photo/`` through
Django's full request stack and reports the request time (p50, p95) and its split
into analysing the photo and searching the index.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20, help="at most 29: the API throttles photo search at 30/min")
    parser.add_argument("--json", metavar="OUT.json")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="jv-photo-bench-")
    os.environ["JEWEL_VISION_VAR_DIR"] = tmp
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
    from jewel_vision.models import Analysis
    from jewel_vision.analysis.run import configured_pipeline, run_analysis
    from shop.models import Product, ProductImage

    analyses.enqueue = lambda pk: True  # analysed inline below, no broker needed
    pipeline = configured_pipeline()
    pipeline.warmup()
    photos = _photos(args.products + args.requests)
    t0 = time.perf_counter()
    for i, data in enumerate(photos[: args.products]):
        product = Product.objects.create(name=f"Piece {i}", sku=f"B-{i}", price=100 + i, stock=1)
        image = ProductImage.objects.create(product=product, image=ContentFile(data, name=f"p{i}.jpg"))
        run_analysis(Analysis.objects.get(image_id=str(image.pk), is_current=True).pk)
    print(f"catalogue of {args.products} products analysed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    client = Client()
    queries = photos[args.products:] or photos[:1]

    def ask(data: bytes):
        t = time.perf_counter()
        response = client.post("/api/v1/search/photo/", {"image": ContentFile(data, name="shopper.jpg")})
        ms = (time.perf_counter() - t) * 1000
        if response.status_code != 200:
            raise SystemExit(f"search by photo failed: {response.status_code} {response.content[:300]!r}")
        return ms, response.json()

    ask(queries[0])  # warm: index loaded
    total, analyse, search = [], [], []
    for k in range(args.requests):
        ms, body = ask(queries[k % len(queries)])
        total.append(ms)
        analyse.append(body["timings_ms"]["analyse"])
        search.append(body["timings_ms"]["search"])
    total.sort()
    figures = {
        "requests": len(total),
        "catalogue_products": args.products,
        "p50_ms": round(statistics.median(total), 1),
        "p95_ms": round(total[min(len(total) - 1, int(round(0.95 * (len(total) - 1))))], 1),
        "analyse_p50_ms": round(statistics.median(analyse), 1),
        "search_p50_ms": round(statistics.median(search), 1),
        "pipeline": pipeline.version,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
