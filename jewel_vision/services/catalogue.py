"""The shop's catalogue as staff see it: each product's analysis state and tags.

Used by the product admin (filters, badges), the inventory (tagging coverage, the
table by type x metal tone x stone x style) and the backfill (untagged products).
Every function reads a whole page or the whole catalogue in a fixed number of
queries; products are matched to tags by the text form of their primary key
(``ProductTag.product_id``), as everywhere in the app.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from jewel_vision.models import Analysis, ProductTag, Tag
from jewel_vision.registry import (
    get_product_model,
    image_content_type,
    product_content_type,
)
from jewel_vision.services.search import visible_tag_q

#: Analysis states a product can be filtered by (a product can be in several).
STATES: dict[str, str] = {
    "untagged": "Untagged",
    "never": "Never analysed",
    "pending": "Analysis pending",
    "failed": "Analysis failed",
    "suggestions": "Suggestions only",
    "reviewed": "Reviewed by a person",
}
#: The states the inventory counts as its tagging coverage.
COVERAGE_STATES = ("untagged", "pending", "failed", "suggestions")
#: Value of a facet filter meaning "no visible value in this facet".
NONE = "__none__"

PK_ALIAS = "_jv_pk"


def with_text_pk(products: QuerySet) -> QuerySet:
    """``products`` annotated with their primary key as text (how tags and analyses name them)."""
    if PK_ALIAS in products.query.annotations:
        return products
    return products.annotate(**{PK_ALIAS: Cast("pk", output_field=CharField(max_length=64))})


def _tags() -> QuerySet:
    return ProductTag.objects.filter(product_type=product_content_type())


def _current_analyses() -> QuerySet:
    return Analysis.objects.filter(image_type=image_content_type(), is_current=True)


def _decided_q() -> Q:
    """A tag a person made or decided (the product is then "reviewed", not "suggestions only")."""
    return Q(source=ProductTag.Source.PERSON) | ~Q(review_state=ProductTag.Review.SUGGESTED)


def state_product_ids(state: str) -> tuple[QuerySet, bool]:
    """(product ids as a subquery, whether products must be *in* it) for one of :data:`STATES`."""
    tags = _tags()
    if state == "untagged":
        return tags.exclude(review_state=ProductTag.Review.REJECTED).values("product_id"), False
    if state == "never":
        return _current_analyses().values("product_id"), False
    if state == "pending":
        return _current_analyses().filter(status__in=[Analysis.Status.PENDING, Analysis.Status.RUNNING]).values(
            "product_id"
        ), True
    if state == "failed":
        return _current_analyses().filter(status=Analysis.Status.FAILED).values("product_id"), True
    if state == "reviewed":
        return tags.filter(_decided_q()).values("product_id"), True
    if state == "suggestions":
        # Has model suggestions, and no tag a person made or decided: one pass over the
        # product's tags (GROUP BY, read from the covering index), not "in tags and not in
        # decided tags", which compared every product with two subqueries.
        return _per_product(tags, _jv_decided=_decided_q()).filter(_jv_decided=0).values("product_id"), True
    raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")


def _per_product(rows: QuerySet, **flags: Q) -> QuerySet:
    """``rows`` (tags or analyses) grouped by product, each ``flag`` 1 when one of its rows matches."""
    return rows.order_by().values("product_id").annotate(**{
        name: Max(Case(When(q, then=Value(1)), default=Value(0), output_field=IntegerField())) for name, q in flags.items()
    })


_INTEGER_KEYS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
                 "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField"}


def _match(products: QuerySet, ids: QuerySet, inside: bool) -> QuerySet:
    """``products`` whose key is (``inside``) or is not in ``ids``, a subquery of ``product_id`` texts.

    An integer key is compared with the ids cast to integers, so the database looks the
    few matching products up by key instead of casting every product's key to text;
    other keys (UUIDs, text) are compared as text.
    """
    if products.model._meta.pk.get_internal_type() in _INTEGER_KEYS:
        # Cast in the select only: on grouped ids (MIN of the one id of its group), so the
        # GROUP BY stays on product_id alone and follows the index.
        grouped = bool(ids.query.group_by)
        as_int = Cast(Min("product_id") if grouped else F("product_id"), output_field=BigIntegerField())
        ids = ids.annotate(_jv_int_id=as_int).values("_jv_int_id")
        return products.filter(pk__in=ids) if inside else products.exclude(pk__in=ids)
    products = with_text_pk(products)
    return products.filter(**{f"{PK_ALIAS}__in": ids}) if inside else products.exclude(**{f"{PK_ALIAS}__in": ids})


def filter_state(products: QuerySet, state: str) -> QuerySet:
    """The products of ``products`` in ``state`` (one of :data:`STATES`)."""
    ids, inside = state_product_ids(state)
    return _match(products, ids, inside)


def filter_facet(products: QuerySet, facet: str, value: str) -> QuerySet:
    """Products with a visible ``facet:value`` tag (what shoppers see); :data:`NONE`: with no visible value."""
    if value == NONE:
        ids = _tags().filter(Q(tag__facet=facet) & ProductTag.visible_q(facet)).values("product_id")
        return _match(products, ids, inside=False)
    return _match(products, _tags().filter(visible_tag_q(facet, [value])).values("product_id"), inside=True)


def facet_values(facet: str) -> list[str]:
    """The values of ``facet`` that some product carries: one query over the (small) vocabulary,
    an index probe per value, not a scan of every product tag."""
    used = _tags().filter(tag=OuterRef("pk"))
    return list(Tag.objects.filter(facet=facet).filter(Exists(used)).order_by("value").values_list("value", flat=True))


def tags_by_product(product_ids: Iterable[str]) -> dict[str, list[ProductTag]]:
    """Every tag of these products (rejected ones too), by product, best first; one query."""
    ids = [str(p) for p in product_ids]
    out: dict[str, list[ProductTag]] = defaultdict(list)
    if not ids:
        return out
    rows = _tags().filter(product_id__in=ids).select_related("tag", "reviewed_by").order_by("tag__facet", "-confidence")
    for row in rows:
        out[row.product_id].append(row)
    return out


def analysis_counts(product_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """``{product_id: {status: n}}`` of the current analyses of these products' photos; one query."""
    ids = [str(p) for p in product_ids]
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if not ids:
        return out
    rows = _current_analyses().filter(product_id__in=ids).order_by().values("product_id", "status").annotate(n=Count("pk"))
    for row in rows:
        out[row["product_id"]][row["status"]] = row["n"]
    return out


def coverage(products: QuerySet | None = None) -> list[tuple[str, str, int]]:
    """``[(state, label, number of products)]`` for :data:`COVERAGE_STATES`.

    For the whole catalogue, one pass over the tags (read from their covering index) counts
    the distinct products that have a tag, a tag not rejected and a decided tag, and one
    over the current analyses those pending and failed: the same products
    :func:`filter_state` lists. For a narrower ``products`` queryset, one filtered count each.
    """
    if products is not None:
        return [(state, STATES[state], filter_state(products, state).order_by().count()) for state in COVERAGE_STATES]
    total = get_product_model()._default_manager.count()

    tags = _per_product(_tags(), has_kept=~Q(review_state=ProductTag.Review.REJECTED), has_decided=_decided_q()).aggregate(
        tagged=Count("product_id"), kept=Coalesce(Sum("has_kept"), 0), decided=Coalesce(Sum("has_decided"), 0)
    )
    runs = _per_product(
        _current_analyses(), has_pending=Q(status__in=[Analysis.Status.PENDING, Analysis.Status.RUNNING]),
        has_failed=Q(status=Analysis.Status.FAILED),
    ).aggregate(pending=Coalesce(Sum("has_pending"), 0), failed=Coalesce(Sum("has_failed"), 0))
    figures = {
        "untagged": total - tags["kept"],
        "pending": runs["pending"],
        "failed": runs["failed"],
        "suggestions": tags["tagged"] - tags["decided"],
    }
    return [(state, STATES[state], figures[state]) for state in COVERAGE_STATES]
