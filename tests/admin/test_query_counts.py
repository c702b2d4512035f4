"""No admin page's query count grows with the page size or the catalogue size.

Every page is fetched with a catalogue of 12 products (60 tags) and of 72 (360 tags),
all on one page of the product list and the review queue; the counts must be equal.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jewel_vision.analysis import backfill
from jewel_vision.models import ProductTag
from tests.admin.catalogue import bulk_catalogue

pytestmark = pytest.mark.django_db

SMALL, LARGE = 12, 72


def pages(products, run) -> dict[str, str]:
    some = products[0].pk
    # Facet values of the first product, so the filtered page is never empty.
    first = dict(ProductTag.objects.filter(product_id=str(some), review_state="accepted").values_list("tag__facet", "tag__value"))
    query = "&".join(f"jv_{f}={v}" for f, v in sorted(first.items()) if f in ("type", "stone"))
    return {
        "product list": "/admin/shop/product/",
        "product list by facet": f"/admin/shop/product/?{query}",
        "product list by state": "/admin/shop/product/?jv_state=suggestions",
        "product form": f"/admin/shop/product/{some}/change/",
        "review queue": "/admin/jewel_vision/review/",
        "review queue, below": "/admin/jewel_vision/review/?reason=below",
        "review queue, photos disagree": "/admin/jewel_vision/review/?reason=conflict",
        "inventory": "/admin/jewel_vision/inventory/?refresh=1",
        "inventory, cached": "/admin/jewel_vision/inventory/",
        "inventory csv": "/admin/jewel_vision/inventory/?format=csv",
        "tray count": "/admin/jewel_vision/inventory/tray/?type=ring",
        "inventory coverage csv": "/admin/jewel_vision/inventory/?format=csv&table=coverage",
        "backfill progress": f"/admin/jewel_vision/backfillrun/{run.pk}/progress/",
        "backfill progress json": f"/admin/jewel_vision/backfillrun/{run.pk}/progress.json",
        "backfills": "/admin/jewel_vision/backfillrun/",
    }


def counts(client, products, run) -> dict[str, int]:
    out = {}
    for name, url in pages(products, run).items():
        client.get(url)  # warm: sessions, content types
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        out[name] = len(ctx.captured_queries)
    return out


def test_query_counts_do_not_grow_with_the_catalogue(client, manager, settings, monkeypatch):
    import jewel_vision.analysis.start as start

    monkeypatch.setattr(start, "enqueue", lambda pk: True)
    # The in-process vector index looks for changes at most this often: not between two measurements.
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "INDEX_REFRESH_SECONDS": 3600}
    client.force_login(manager)
    products = bulk_catalogue(SMALL, seed=1)
    ProductTag.objects.filter(product_id=str(products[0].pk)).update(review_state="accepted")
    # A backfill of one product (it sends that product's photo again, so it is not the one measured).
    run = backfill.start("products", product_ids=[str(products[1].pk)], on_workers=False)
    backfill.step(run.pk)
    small = counts(client, products, run)
    products += bulk_catalogue(LARGE - SMALL, seed=2, prefix="C")
    run2 = backfill.start("products", product_ids=[str(products[1].pk)], on_workers=False)
    backfill.step(run2.pk)
    large = counts(client, products, run2)
    assert large == small
    # The catalogue has products whose photos disagree (every tenth has a second photo).
    from jewel_vision.services import review_queue

    assert len(review_queue.conflicting_ids()) > 10
    assert max(small.values()) < 40, small
