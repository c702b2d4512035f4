"""The catalogue counted by its tags, for the admin's inventory page and its CSV exports.

* :func:`crosstab`: products, stock units and stock value by type x metal tone x stone x
  style, counted on the tags shoppers see (a product with two stones counts under each;
  one with no value of a facet under "").
* :func:`confidence_histogram`: how confident the product tags of each facet are.
* :func:`daily_analyses`: analyses finished per day and the share that failed.

Each reads the whole catalogue in one or two queries, however large it is.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, F, IntegerField, Q
from django.db.models.functions import Cast, Coalesce, Floor, Least, TruncDate
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis, ProductTag
from jewel_vision.registry import (
    get_product_model,
    image_content_type,
    product_content_type,
)

CROSSTAB_FACETS = ("type", "metal_tone", "stone", "style")
BINS = 10


def crosstab(facets: tuple[str, ...] = CROSSTAB_FACETS) -> list[dict]:
    """Rows ``{facet: value, ..., "products", "units", "value"}``, most products first (two queries)."""
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    rows = ProductTag.objects.filter(
        ProductTag.visible_q(), product_type=product_content_type(), tag__facet__in=list(facets)
    ).values_list("product_id", "tag__facet", "tag__value")
    for pid, facet, value in rows.iterator(chunk_size=5000):
        values[pid][facet].add(value)
    stock_field, price_field = jv_settings.PRODUCT_STOCK_FIELD, jv_settings.PRODUCT_PRICE_FIELD
    fields = ["pk"] + [f for f in (stock_field, price_field) if f]
    cells: dict[tuple[str, ...], list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for row in get_product_model()._default_manager.order_by().values_list(*fields).iterator(chunk_size=5000):
        pid = str(row[0])
        stock = row[1] if stock_field else None
        price = row[-1] if price_field else None
        units = int(stock) if isinstance(stock, (int, bool)) else 0
        per_facet = [sorted(values[pid][f]) or [""] for f in facets] if pid in values else [[""]] * len(facets)
        for combo in itertools.product(*per_facet):
            cell = cells[combo]
            cell[0] += 1
            cell[1] += units
            if price is not None:
                cell[2] += Decimal(price) * units
    out = [
        {**dict(zip(facets, combo)), "products": n, "units": units, "value": value}
        for combo, (n, units, value) in cells.items()
    ]
    return sorted(out, key=lambda r: (-r["products"], *[r[f] for f in facets]))


def confidence_histogram() -> dict[str, list[int]]:
    """``{facet: [count of tags with confidence in 0-0.1, 0.1-0.2, ... 0.9-1.0]}`` (rejected ones left out)."""
    bucket = Least(Cast(Floor(F("confidence") * BINS), IntegerField()), BINS - 1)
    rows = (
        ProductTag.objects.filter(product_type=product_content_type())
        .exclude(review_state=ProductTag.Review.REJECTED)
        .annotate(bucket=bucket)
        .order_by()
        .values("tag__facet", "bucket")
        .annotate(n=Count("pk"))
    )
    out: dict[str, list[int]] = defaultdict(lambda: [0] * BINS)
    for row in rows:
        out[row["tag__facet"]][max(0, min(BINS - 1, int(row["bucket"])))] += row["n"]
    return dict(sorted(out.items()))


def daily_analyses(days: int = 30) -> list[dict]:
    """``[{"day", "done", "failed", "failure_rate"}]`` for the last ``days`` days, oldest first."""
    since = timezone.now() - timedelta(days=days)
    finished = Coalesce("finished_at", "updated_at")
    rows = (
        Analysis.objects.filter(image_type=image_content_type(), status__in=[Analysis.Status.DONE, Analysis.Status.FAILED])
        .annotate(at=finished)
        .filter(at__gte=since)
        .annotate(day=TruncDate("at"))
        .order_by()
        .values("day")
        .annotate(done=Count("pk", filter=Q(status=Analysis.Status.DONE)), failed=Count("pk", filter=Q(status=Analysis.Status.FAILED)))
        .order_by("day")
    )
    return [
        {"day": row["day"].isoformat(), "done": row["done"], "failed": row["failed"],
         "failure_rate": round(row["failed"] / (row["done"] + row["failed"]), 4)}
        for row in rows
    ]
