"""The catalogue counted by its tags, for the admin's inventory page and its CSV exports.

* :func:`crosstab`: products, stock units and stock value by type x metal tone x stone x
  style, counted on the tags shoppers see (a product with two stones counts under each;
  one with no value of a facet under "").
* :func:`confidence_histogram`: how confident the product tags of each facet are.
* :func:`daily_analyses`: analyses finished per day and the share that failed.

Each reads the whole catalogue in a fixed number of queries, however large it is.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, F, IntegerField, Q
from django.db.models.functions import Cast, Floor, Least, TruncDate
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis, ProductTag, Tag
from jewel_vision.registry import (
    get_product_model,
    image_content_type,
    product_content_type,
)

CROSSTAB_FACETS = ("type", "metal_tone", "stone", "style")
BINS = 10


def crosstab(facets: tuple[str, ...] = CROSSTAB_FACETS) -> list[dict]:
    """Rows ``{facet: value, ..., "products", "units", "value"}``, most products first (three queries).

    The tags are read as (product, tag id) pairs without a join, the small vocabulary
    maps tag ids to values; stock and price are summed in cents.
    """
    vocabulary = {pk: (facet, value) for pk, facet, value in Tag.objects.filter(facet__in=facets).values_list("pk", "facet", "value")}
    position = {facet: k for k, facet in enumerate(facets)}
    values: dict[str, list[list[str]]] = {}
    rows = ProductTag.objects.filter(
        ProductTag.visible_q(),
        product_type=product_content_type(), tag_id__in=list(vocabulary),
    ).values_list("product_id", "tag_id")
    for pid, tag_id in rows.iterator(chunk_size=5000):
        facet, value = vocabulary[tag_id]
        values.setdefault(pid, [[] for _ in facets])[position[facet]].append(value)
    stock_field, price_field = jv_settings.PRODUCT_STOCK_FIELD, jv_settings.PRODUCT_PRICE_FIELD
    fields = ["pk"] + [f for f in (stock_field, price_field) if f]
    cells: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    empty = ("",) * len(facets)
    for row in get_product_model()._default_manager.order_by().values_list(*fields).iterator(chunk_size=5000):
        stock = row[1] if stock_field else None
        price = row[-1] if price_field else None
        units = int(stock) if isinstance(stock, (int, bool)) else 0
        cents = round(price * 100) * units if price is not None else 0
        per_facet = values.get(str(row[0]))
        combos = itertools.product(*[sorted(v) or [""] for v in per_facet]) if per_facet else (empty,)
        for combo in combos:
            cell = cells[combo]
            cell[0] += 1
            cell[1] += units
            cell[2] += cents
    out = [
        {**dict(zip(facets, combo)), "products": n, "units": units, "value": Decimal(cents) / 100}
        for combo, (n, units, cents) in cells.items()
    ]
    return sorted(out, key=lambda r: (-r["products"], *[r[f] for f in facets]))


def confidence_histogram() -> dict[str, list[int]]:
    """``{facet: [count of tags with confidence in 0-0.1, 0.1-0.2, ... 0.9-1.0]}`` (rejected ones left out).

    Grouped by tag id (no join); the vocabulary maps ids to facets.
    """
    bucket = Least(Cast(Floor(F("confidence") * BINS), IntegerField()), BINS - 1)
    rows = (
        ProductTag.objects.filter(product_type=product_content_type())
        .exclude(review_state=ProductTag.Review.REJECTED)
        .annotate(bucket=bucket)
        .order_by()
        .values_list("tag_id", "bucket")
        .annotate(n=Count("pk"))
    )
    counts = list(rows)
    facets = dict(Tag.objects.filter(pk__in={tag_id for tag_id, _, _ in counts}).values_list("pk", "facet"))
    out: dict[str, list[int]] = defaultdict(lambda: [0] * BINS)
    for tag_id, b, n in counts:
        out[facets[tag_id]][max(0, min(BINS - 1, int(b)))] += n
    return dict(sorted(out.items()))


def daily_analyses(days: int = 30) -> list[dict]:
    """``[{"day", "done", "failed", "failure_rate"}]`` for the last ``days`` days, oldest first."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        Analysis.objects.filter(
            image_type=image_content_type(), status__in=[Analysis.Status.DONE, Analysis.Status.FAILED], finished_at__gte=since
        )
        .annotate(day=TruncDate("finished_at"))
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
