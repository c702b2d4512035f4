"""The back office's figures computed by the database agree with their plain definitions.

The inventory, the coverage and the state filters are single SQL queries (GROUP BY,
LEFT JOINs, read from covering indexes); each is checked here against a
straightforward Python reading of the same rows, on catalogues that exercise the cases
the SQL has to get right: several values of one facet, a value below its threshold, a
person's accepted and rejected tags, a facet threshold set by the shop, a product with
no stock or price, days in a time zone other than UTC. And the figures follow a
person's review and a model's re-analysis at once: nothing is cached or stored apart.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models.functions import TruncDate
from django.utils import timezone

from jewel_vision.models import Analysis, ProductTag
from jewel_vision.registry import product_content_type
from jewel_vision.services import catalogue, inventory, review
from shop.models import Product
from tests.admin.catalogue import bulk_catalogue

pytestmark = pytest.mark.django_db


def reference_crosstab(facets=inventory.CROSSTAB_FACETS) -> dict:
    """Product by product in Python: ``{(value per facet): (products, units, value)}``."""
    values: dict[str, list[list[str]]] = {}
    for pt in ProductTag.objects.filter(product_type=product_content_type(), tag__facet__in=facets).select_related("tag"):
        if pt.is_visible:
            values.setdefault(pt.product_id, [[] for _ in facets])[facets.index(pt.tag.facet)].append(pt.tag.value)
    cells: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for product in Product.objects.all():
        units = product.stock or 0
        per_facet = values.get(str(product.pk), [[] for _ in facets])
        for combo in itertools.product(*[sorted(v) or [""] for v in per_facet]):
            cells[combo][0] += 1
            cells[combo][1] += units
            cells[combo][2] += product.price * units
    return {combo: tuple(cell) for combo, cell in cells.items()}


def as_cells(rows) -> dict:
    return {tuple(r[f] for f in inventory.CROSSTAB_FACETS): (r["products"], r["units"], r["value"]) for r in rows}


@pytest.fixture
def mixed(catalog, make_product, settings):
    """Products with two stones, a tag below its threshold, people's decisions, no tags at all."""
    a = catalog("ring", "gold", 1, tags={"type": "ring", "metal_tone": "yellow", "stone": ["diamond", "pearl"],
                                         "style": ["vintage", "luxury"]}, price="120.50", stock=2)
    b = catalog("ring", "gold", 2, tags={"type": "ring", "metal_tone": "yellow", "stone": "diamond"}, price="80.00", stock=0)
    c = catalog("earring", "silver", 3, tags={"type": "earring", "stone": "pearl"}, confidence=0.3, price="15.25", stock=4)
    d = catalog("necklace", "gold", 4, tags={"type": "necklace", "metal_tone": "rose"}, price="999.99", stock=1)
    e = make_product("Untagged", price="5.00", stock=7)
    # A person accepts c's low pearl and rejects d's rose tone.
    review.accept(ProductTag.objects.get(product_id=str(c.pk), tag__facet="stone"))
    review.reject(ProductTag.objects.get(product_id=str(d.pk), tag__facet="metal_tone"))
    return a, b, c, d, e


def test_crosstab_is_the_product_by_product_count(mixed):
    rows = inventory.crosstab()
    assert as_cells(rows) == reference_crosstab()
    cells = as_cells(rows)
    # Two stones x two styles: four cells for one product.
    assert cells[("ring", "yellow", "pearl", "vintage")] == (1, 2, Decimal("241.00"))
    assert cells[("ring", "yellow", "diamond", "")] == (1, 0, Decimal("0"))
    assert cells[("", "", "pearl", "")] == (1, 4, Decimal("61.00"))  # only the accepted tag is shown
    assert [r["products"] for r in rows] == sorted((r["products"] for r in rows), reverse=True)


def test_crosstab_follows_a_facet_threshold_set_by_the_shop(mixed, settings):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "FACET_THRESHOLDS": {"type": 0.25}}
    cells = as_cells(inventory.crosstab())
    assert cells == reference_crosstab()
    assert ("earring", "", "pearl", "") in cells  # c's type (0.3) is shown from 0.25


def test_crosstab_on_a_bulk_catalogue(jv_env):
    bulk_catalogue(60, seed=5)
    assert as_cells(inventory.crosstab()) == reference_crosstab()


def test_coverage_counts_the_products_each_state_filter_lists(jv_env):
    products = bulk_catalogue(40, seed=3)
    Analysis.objects.filter(product_id=str(products[0].pk)).update(status=Analysis.Status.RUNNING)
    ProductTag.objects.filter(product_id=str(products[1].pk)).update(review_state="rejected")
    ProductTag.objects.filter(product_id=str(products[2].pk)).update(source="person", review_state="accepted")
    whole = catalogue.coverage()
    narrowed = catalogue.coverage(Product.objects.all())
    listed = [(s, label, catalogue.filter_state(Product.objects.all(), s).count()) for s, label, _ in whole]
    assert whole == narrowed == listed
    assert dict((s, n) for s, _, n in whole)["untagged"] == 1


def reference_states(product) -> set[str]:
    tags = list(ProductTag.objects.filter(product_id=str(product.pk)))
    current = list(Analysis.objects.filter(product_id=str(product.pk), is_current=True))
    states = set()
    if not any(t.review_state != "rejected" for t in tags):
        states.add("untagged")
    if not current:
        states.add("never")
    if any(a.status in ("pending", "running") for a in current):
        states.add("pending")
    if any(a.status == "failed" for a in current):
        states.add("failed")
    if any(t.is_human_decision for t in tags):
        states.add("reviewed")
    elif tags:
        states.add("suggestions")
    return states


def listed_states() -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    for state in catalogue.STATES:
        for pk in catalogue.filter_state(Product.objects.all(), state).values_list("pk", flat=True):
            out[pk].add(state)
    return out


def test_state_filters_follow_a_review_and_a_reanalysis(mixed, catalog, add_photo):
    from jewel_vision.analysis.start import analyze
    from jewel_vision.analysis.store import store_result
    from jewel_vision.vision.types import AnalysisResult, Embedding, TagPrediction
    from tests.conftest import photo_bytes
    from tests.index.helpers import embed_photo

    a, b, c, d, e = mixed

    def check():
        listed = listed_states()
        assert {p.pk: reference_states(p) for p in Product.objects.all()} == {p.pk: listed[p.pk] for p in Product.objects.all()}
        return listed

    listed = check()
    assert "suggestions" in listed[a.pk] and "reviewed" in listed[c.pk] and "untagged" in listed[e.pk]
    # A person accepts one of a's suggestions: a is reviewed, no longer suggestions only.
    review.accept(ProductTag.objects.filter(product_id=str(a.pk), tag__facet="type").get())
    listed = check()
    assert "reviewed" in listed[a.pk] and "suggestions" not in listed[a.pk]
    # A model re-analyses b's new photo (pending first, then done with other tags).
    image = add_photo(b, data=photo_bytes(kind="ring", metal="gold", seed=77), name="again.jpg")
    analysis = analyze(image)
    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.PENDING)
    assert "pending" in check()[b.pk]
    store_result(analysis.pk, AnalysisResult(
        tags=[TagPrediction("type", "pendant", 0.97, "test-tagger", "2", None)], detections=[], regions=[], texts=[],
        embedding=Embedding(embed_photo("ring", "gold", 77), "effnet-lite0", "imagenet"),
        timings_ms={}, model_versions={}, width=384, height=384,
    ))
    listed = check()
    assert "pending" not in listed[b.pk] and "suggestions" in listed[b.pk]
    assert as_cells(inventory.crosstab()) == reference_crosstab()


def test_state_filter_compares_text_keys_too(mixed):
    """A product model whose key is not an integer is matched by the key's text."""
    ids = catalogue.state_product_ids("suggestions")[0]
    by_text = catalogue.with_text_pk(Product.objects.all()).filter(**{f"{catalogue.PK_ALIAS}__in": ids})
    assert set(by_text.values_list("pk", flat=True)) == set(
        catalogue.filter_state(Product.objects.all(), "suggestions").values_list("pk", flat=True)
    )


def reference_daily(days: int = 30) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    rows = (
        Analysis.objects.filter(status__in=["done", "failed"], finished_at__gte=since)
        .annotate(day=TruncDate("finished_at")).values_list("day", "status")
    )
    counts: dict = defaultdict(lambda: [0, 0])
    for day, status in rows:
        counts[day][status == "failed"] += 1
    return [{"day": d.isoformat(), "done": n[0], "failed": n[1], "failure_rate": round(n[1] / (n[0] + n[1]), 4)}
            for d, n in sorted(counts.items())]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_analyses_per_day_are_local_days(jv_env, settings, zone):
    settings.TIME_ZONE = zone
    products = bulk_catalogue(30, seed=9)
    now = timezone.now()
    local_midnight = timezone.make_aware(datetime.combine(timezone.localdate(now), datetime.min.time()))
    # Either side of local midnights, at the 30-day edge, and one in the future (a clock ahead).
    moments = [local_midnight - timedelta(seconds=1), local_midnight, local_midnight + timedelta(microseconds=1),
               local_midnight - timedelta(days=3, seconds=1), local_midnight - timedelta(days=3),
               now - timedelta(days=30) + timedelta(minutes=5), now - timedelta(days=31), now + timedelta(days=2)]
    for analysis, moment in zip(Analysis.objects.filter(product_id__in=[str(p.pk) for p in products]), itertools.cycle(moments)):
        analysis.finished_at = moment
        analysis.save(update_fields=["finished_at"])
    daily = inventory.daily_analyses()
    assert daily == reference_daily()
    assert daily[-1]["day"] == timezone.localtime(now + timedelta(days=2)).date().isoformat()


def test_confidence_histogram_counts_every_tag_not_rejected(jv_env):
    bulk_catalogue(30, seed=4)
    expected: dict[str, list[int]] = defaultdict(lambda: [0] * inventory.BINS)
    for facet, confidence in ProductTag.objects.exclude(review_state="rejected").values_list("tag__facet", "confidence"):
        expected[facet][min(int(confidence * inventory.BINS), inventory.BINS - 1)] += 1
    assert inventory.confidence_histogram() == dict(sorted(expected.items()))

