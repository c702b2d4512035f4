"""How fast the back office's admin pages answer with 10,000 products and 50,000 tags.

    python benchmarks/admin_speed.py [--products 10000] [--repeat 7] [--json benchmarks/results/admin-speed.json]

Builds a fresh catalogue in a throw-away database (SQLite under a temporary folder, or
``DATABASE_URL``'s PostgreSQL, whose tables are dropped first: give it an empty database),
5 tags a product (type, metal tone, stone, style, metal), a photo row, a finished analysis
with a box and the predictions behind every tag; then fetches each page with Django's
test client as a logged-in superuser and reports the median and worst time of
``--repeat`` requests after one warm-up (server time: the whole request through
Django, no network, no browser rendering). The machine's load average is recorded
before and after the pages are timed, and each page's CPU time in this process
(``cpu_ms``, median): on a shared machine the wall time grows with the load, the CPU
time much less. On SQLite the CPU time includes the database's work (it runs in this
process); on PostgreSQL it does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="jv-admin-speed-"))
    os.environ.setdefault("JEWEL_VISION_VAR_DIR", str(workdir))
    os.environ.setdefault("JEWEL_VISION_MEDIA_ROOT", str(workdir / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.conf import settings
    from django.test import override_settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    import jewel_vision.analysis.start as start
    from jewel_vision.analysis import backfill
    from jewel_vision.models import ProductTag
    from tests.admin.catalogue import bulk_catalogue

    setup_test_environment()
    # Through override_settings, so the upload signals are disconnected (setting_changed).
    override_settings(JEWEL_VISION={**settings.JEWEL_VISION, "AUTO_ANALYZE": False}).enable()
    start.enqueue = lambda pk: True  # no broker here: the pages are timed, not the workers
    if connection.vendor == "postgresql":
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    products = []
    for chunk in range(0, args.products, 2000):
        products += bulk_catalogue(min(2000, args.products - chunk), seed=chunk, prefix=f"P{chunk}")
    build_s = time.perf_counter() - t0
    if connection.vendor == "postgresql":
        # The planner's statistics, as autovacuum leaves them a minute after a bulk load:
        # timed at once, it plans 10,000 rows as one (seconds for a facet filter).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    ProductTag.objects.filter(product_id=str(products[0].pk)).update(review_state="accepted")
    first = dict(ProductTag.objects.filter(product_id=str(products[0].pk)).values_list("tag__facet", "tag__value"))
    run = backfill.start("products", product_ids=[str(p.pk) for p in products[1:51]], rate=50, max_in_flight=50,
                         on_workers=False)
    backfill.step(run.pk)
    get_user_model().objects.create_superuser("bench", password="bench-pw-123")
    client = Client()
    client.login(username="bench", password="bench-pw-123")
    pages = {
        "product list": "/admin/shop/product/",
        "product list, facet filter": f"/admin/shop/product/?jv_type={first['type']}&jv_stone={first['stone']}",
        "product list, state filter": "/admin/shop/product/?jv_state=suggestions",
        "product list, untagged": "/admin/shop/product/?jv_state=untagged",
        "product list, page 50": "/admin/shop/product/?p=50",
        "product form": f"/admin/shop/product/{products[0].pk}/change/",
        "review queue": "/admin/jewel_vision/review/",
        "review queue, below threshold": "/admin/jewel_vision/review/?reason=below",
        "review queue, photos disagree": "/admin/jewel_vision/review/?reason=conflict",
        "inventory (recomputed)": "/admin/jewel_vision/inventory/?refresh=1",
        "inventory (figures cached up to 30 s)": "/admin/jewel_vision/inventory/",
        "inventory CSV": "/admin/jewel_vision/inventory/?format=csv",
        "backfills": "/admin/jewel_vision/backfillrun/",
        "backfill progress": f"/admin/jewel_vision/backfillrun/{run.pk}/progress/",
        "backfill progress.json": f"/admin/jewel_vision/backfillrun/{run.pk}/progress.json",
    }
    results = {}
    load_before = os.getloadavg()
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        times, cpu = [], []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                began, began_cpu = time.perf_counter(), time.process_time()
                client.get(url)
                times.append((time.perf_counter() - began) * 1000)
                cpu.append((time.process_time() - began_cpu) * 1000)
        results[name] = {"url": url, "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                         "cpu_ms": round(statistics.median(cpu), 1),
                         "queries": len(queries.captured_queries),
                         "slowest_query_ms": round(1000 * max(float(q["time"]) for q in queries.captured_queries), 1)}
        print(f"{name:<38} median {results[name]['median_ms']:7.1f} ms   worst {results[name]['max_ms']:7.1f} ms   "
              f"cpu {results[name]['cpu_ms']:6.1f} ms   {results[name]['queries']} queries")
    load_after = os.getloadavg()
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "database": connection.vendor,
        "products": args.products,
        "product_tags": ProductTag.objects.count(),
        "build_seconds": round(build_s, 1),
        "repeat": args.repeat,
        "cpu_cores": os.cpu_count(),
        "load_average_1_5_15_min": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "pages": results,
        "slowest_median_ms": max(r["median_ms"] for r in results.values()),
        "under_300_ms": all(r["median_ms"] < 300 for r in results.values()),
    }
    print(f"slowest median {out['slowest_median_ms']} ms; every page under 300 ms: {out['under_300_ms']}; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} cores)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
