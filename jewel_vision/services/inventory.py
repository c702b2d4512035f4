"""The catalogue counted by its tags, for the admin's inventory page and its CSV exports.

* :func:`crosstab`: products, stock units and stock value by type x metal tone x stone x
  style, counted on the tags shoppers see (a product with two stones counts under each;
  one with no value of a facet under "").
* :func:`confidence_histogram`: how confident the product tags of each facet are.
* :func:`daily_analyses`: analyses finished per day and the share that failed.

Each reads the whole catalogue in a fixed number of queries, however large it is.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

from django.db import connection
from django.db.models import BigIntegerField, Case, CharField, Count, F, IntegerField, Q, Value, When
from django.db.models.functions import Cast, Coalesce, Floor, Least, Round, TruncDate
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


def _stock_and_cents(model) -> tuple:
    """Database expressions of a product's stock units and stock value in cents.

    Units: the stock field when it holds whole numbers (an integer or boolean field), else 0;
    value: the price rounded to cents, times the units (0 without a price).
    """
    stock_field, price_field = jv_settings.PRODUCT_STOCK_FIELD, jv_settings.PRODUCT_PRICE_FIELD
    units = Value(0)
    if stock_field:
        kind = model._meta.get_field(stock_field).get_internal_type()
        if kind in _WHOLE_NUMBERS:
            units = Coalesce(Cast(stock_field, IntegerField()) if kind == "BooleanField" else F(stock_field), 0)
    cents = Coalesce(Cast(Round(F(price_field) * 100), BigIntegerField()) * units, 0) if price_field else Value(0)
    return units, cents


_WHOLE_NUMBERS = {"IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
                  "PositiveBigIntegerField", "PositiveSmallIntegerField", "BooleanField"}


def crosstab(facets: tuple[str, ...] = CROSSTAB_FACETS) -> list[dict]:
    """Rows ``{facet: value, ..., "products", "units", "value"}``, most products first (two queries).

    Counted by the database in one GROUP BY: every product joined (LEFT JOIN) to its
    visible tags of each facet, so a product with two values of a facet counts once
    under each combination, and one with none under "". Only the few hundred cells come
    back to Python, never a row per product or tag.
    """
    vocabulary = {pk: (facet, value) for pk, facet, value in Tag.objects.filter(facet__in=facets).values_list("pk", "facet", "value")}
    model = get_product_model()
    units, cents = _stock_and_cents(model)
    products = model._default_manager.order_by().annotate(
        _jv_pid=Cast("pk", output_field=CharField(max_length=64)), _jv_units=units, _jv_cents=cents,
    ).values("_jv_pid", "_jv_units", "_jv_cents")
    quote = connection.ops.quote_name
    sql, params = products.query.sql_with_params()
    columns, joins, all_params = [], [], [*params]
    for k, facet in enumerate(facets):
        ids = [pk for pk, (f, _) in vocabulary.items() if f == facet]
        if not ids:  # no value of this facet anywhere: every product under ""
            columns.append("NULL")
            continue
        # The facet's tags are picked by ``tag_id + 0``: the database then probes each product's
        # few tags by (type, product) in the covering index, not every (product, tag) pair.
        visible = ProductTag.objects.filter(
            ProductTag.visible_q(facet), product_type=product_content_type()
        ).annotate(_jv_tag=F("tag_id") + 0).filter(_jv_tag__in=ids).order_by().values("product_id", "tag_id")
        vsql, vparams = visible.query.sql_with_params()
        alias = quote(f"f{k}")
        columns.append(f"{alias}.{quote('tag_id')}")
        joins.append(f" LEFT JOIN ({vsql}) {alias} ON {alias}.{quote('product_id')} = p.{quote('_jv_pid')}")
        all_params += vparams
    # Parameters in text order: the products' subquery comes first, then the joins.
    group = ", ".join(str(n + 1) for n in range(len(facets)))
    query = (f"SELECT {', '.join(columns)}, COUNT(*), SUM(p.{quote('_jv_units')}), SUM(p.{quote('_jv_cents')}) "
             f"FROM ({sql}) p{''.join(joins)} GROUP BY {group}")
    with connection.cursor() as cursor:
        cursor.execute(query, all_params)
        cells = cursor.fetchall()
    out = []
    for *tag_ids, n, n_units, n_cents in cells:
        values = [vocabulary[t][1] if t is not None else "" for t in tag_ids]
        out.append({**dict(zip(facets, values)), "products": n, "units": int(n_units or 0),
                    "value": Decimal(int(n_cents or 0)) / 100})
    return sorted(out, key=lambda r: (-r["products"], *[r[f] for f in facets]))


def confidence_histogram() -> dict[str, list[int]]:
    """``{facet: [count of tags with confidence in 0-0.1, 0.1-0.2, ... 0.9-1.0]}`` (rejected ones left out).

    Grouped by tag id (no join); the vocabulary maps ids to facets. The product type is
    compared as ``product_type_id + 0`` so the database reads the narrow index by tag
    (tag, state, confidence, type) rather than the wider one that starts with the type:
    every tag is read either way, half as many bytes this way.
    """
    bucket = Least(Cast(Floor(F("confidence") * BINS), IntegerField()), BINS - 1)
    rows = (
        ProductTag.objects.annotate(_jv_type=F("product_type_id") + 0).filter(_jv_type=product_content_type().pk)
        .exclude(review_state=ProductTag.Review.REJECTED)
        .annotate(bucket=bucket)
        .order_by()
        .values_list("tag_id", "bucket")
        .annotate(n=Count("*"))
    )
    counts = list(rows)
    facets = dict(Tag.objects.filter(pk__in={tag_id for tag_id, _, _ in counts}).values_list("pk", "facet"))
    out: dict[str, list[int]] = defaultdict(lambda: [0] * BINS)
    for tag_id, b, n in counts:
        out[facets[tag_id]][max(0, min(BINS - 1, int(b)))] += n
    return dict(sorted(out.items()))


def _day_starts(since: datetime, now: datetime) -> tuple[list[date], list[datetime]]:
    """The local days from ``since`` to ``now`` and where each ends (the next local midnight)."""
    tz = timezone.get_current_timezone()
    first, last = timezone.localtime(since, tz).date(), timezone.localtime(now, tz).date()
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    ends = [timezone.make_aware(datetime.combine(d + timedelta(days=1), dt_time.min), tz) for d in days]
    return days, ends


def daily_analyses(days: int = 30) -> list[dict]:
    """``[{"day", "done", "failed", "failure_rate"}]`` for the last ``days`` days, oldest first.

    Each analysis is put in its local day by comparing its time with the days' ends
    (a CASE the database evaluates itself), not by converting every time to a date,
    which SQLite does in Python, one call per analysis.
    """
    now = timezone.now()
    since = now - timedelta(days=days)
    day_list, ends = _day_starts(since, now)
    bucket = Case(*[When(finished_at__lt=end, then=Value(k)) for k, end in enumerate(ends)], default=Value(-1),
                  output_field=IntegerField())
    finished = Analysis.objects.filter(
        image_type=image_content_type(), status__in=[Analysis.Status.DONE, Analysis.Status.FAILED], finished_at__gte=since
    )
    counts = Count("pk", filter=Q(status=Analysis.Status.DONE)), Count("pk", filter=Q(status=Analysis.Status.FAILED))
    rows = finished.annotate(bucket=bucket).order_by().values("bucket").annotate(done=counts[0], failed=counts[1])
    by_day: dict[date, list[int]] = {}
    later = False
    for row in rows:
        if row["bucket"] < 0:
            later = True
            continue
        by_day[day_list[row["bucket"]]] = [row["done"], row["failed"]]
    if later:  # finished after today (a clock ahead): dated one by one, as rare as it is
        for row in (finished.filter(finished_at__gte=ends[-1]).annotate(day=TruncDate("finished_at")).order_by()
                    .values("day").annotate(done=counts[0], failed=counts[1])):
            by_day[row["day"]] = [row["done"], row["failed"]]
    return [
        {"day": day.isoformat(), "done": done, "failed": failed, "failure_rate": round(failed / (done + failed), 4)}
        for day, (done, failed) in sorted(by_day.items()) if done + failed
    ]
