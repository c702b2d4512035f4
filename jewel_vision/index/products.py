"""The shop's product model seen through the settings: price, stock, name, photos, tags.

Jewel Vision never imports the shop. Field names come from ``JEWEL_VISION``
(``PRODUCT_PRICE_FIELD``, ``PRODUCT_STOCK_FIELD``, ``PRODUCT_NAME_FIELD``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q

from jewel_vision.conf import jv_settings
from jewel_vision.models import ProductTag
from jewel_vision.registry import get_image_model, get_product_model, product_content_type

#: Facets denormalised into the index as filter columns (one value each).
INDEX_FACETS = ("type", "metal", "metal_tone")
#: Facets shown on cards and used to re-rank.
CARD_FACETS = ("type", "metal", "metal_tone", "stone", "colour", "style")


def shopper_products(queryset: models.QuerySet | None = None) -> models.QuerySet:
    """The products shoppers may see: ``JEWEL_VISION["SHOPPER_QUERYSET"]`` applied to ``queryset``.

    ``queryset`` defaults to every product. Every shopper-facing path goes
    through this; staff paths (tag review) use the plain product queryset.
    """
    if queryset is None:
        queryset = get_product_model()._default_manager.all()
    func = jv_settings.shopper_filter()
    return queryset if func is None else func(queryset)


def limits_shoppers() -> bool:
    """Whether the shop hides some products from shoppers (SHOPPER_QUERYSET is set)."""
    return jv_settings.SHOPPER_QUERYSET is not None


def _stock_field() -> models.Field | None:
    name = jv_settings.PRODUCT_STOCK_FIELD
    return get_product_model()._meta.get_field(name) if name else None


def in_stock_q(prefix: str = "") -> Q:
    """A Q on the product model (or through ``prefix``) for products in stock."""
    f = _stock_field()
    if f is None:
        return Q()
    if isinstance(f, models.BooleanField):
        return Q(**{f"{prefix}{f.name}": True})
    return Q(**{f"{prefix}{f.name}__gt": 0})


def price_q(price_min: float | None, price_max: float | None) -> Q:
    name = jv_settings.PRODUCT_PRICE_FIELD
    q = Q()
    if not name:
        return q
    if price_min is not None:
        q &= Q(**{f"{name}__gte": price_min})
    if price_max is not None:
        q &= Q(**{f"{name}__lte": price_max})
    return q


def stock_is_in(value: Any) -> bool:
    if value is None:
        return jv_settings.PRODUCT_STOCK_FIELD is None
    if isinstance(value, bool):
        return value
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return bool(value)


def price_of(product: Any) -> float | None:
    name = jv_settings.PRODUCT_PRICE_FIELD
    value = getattr(product, name, None) if name else None
    return None if value is None else float(value)


def in_stock_of(product: Any) -> bool:
    name = jv_settings.PRODUCT_STOCK_FIELD
    return True if not name else stock_is_in(getattr(product, name, None))


def title_of(product: Any) -> str:
    name = jv_settings.PRODUCT_NAME_FIELD
    value = getattr(product, name, None) if name else None
    return str(value) if value not in (None, "") else str(product)


def url_of(product: Any) -> str:
    get_url = getattr(product, "get_absolute_url", None)
    try:
        return get_url() if get_url else ""
    except Exception:  # noqa: BLE001 - a shop's URL method must not break a widget
        return ""


def products_by_id(product_ids: Iterable[str], *, shoppers_only: bool = True) -> dict[str, Any]:
    """Existing products by their id (as text); unknown or malformed ids are left out.

    ``shoppers_only``: only products shoppers may see (``shopper_products``), so a card
    never shows a draft even when the index is behind a change made without ``save()``.
    """
    model = get_product_model()
    pk_field = model._meta.pk
    keys = []
    for pid in dict.fromkeys(str(p) for p in product_ids):
        try:
            keys.append(pk_field.to_python(pid))
        except Exception:  # noqa: BLE001 - a malformed id simply does not exist
            continue
    if not keys:
        return {}
    qs = model._default_manager.all()
    if shoppers_only:
        qs = shopper_products(qs)
    return {str(p.pk): p for p in qs.filter(pk__in=keys)}


def attrs_by_id(product_ids: Iterable[str]) -> dict[str, tuple[bool, float | None]]:
    """``{product_id: (in_stock, price)}`` for existing products shoppers may see, in one query per 2000.

    The vector index is built from this (``index.sync``), so it holds only products
    shoppers may see: similar items, complete the look, search by photo and
    recommendations never meet a draft, whatever filters the query has.
    """
    model = get_product_model()
    fields = ["pk"] + [f for f in (jv_settings.PRODUCT_STOCK_FIELD, jv_settings.PRODUCT_PRICE_FIELD) if f]
    ids = list(dict.fromkeys(str(p) for p in product_ids))
    out: dict[str, tuple[bool, float | None]] = {}
    pk_field = model._meta.pk
    keys = []
    for pid in ids:
        try:
            keys.append(pk_field.to_python(pid))
        except Exception:  # noqa: BLE001
            continue
    for chunk_start in range(0, len(keys), 2000):
        chunk = keys[chunk_start : chunk_start + 2000]
        for row in shopper_products(model._default_manager.all()).filter(pk__in=chunk).values(*fields):
            stock = row.get(jv_settings.PRODUCT_STOCK_FIELD) if jv_settings.PRODUCT_STOCK_FIELD else None
            price = row.get(jv_settings.PRODUCT_PRICE_FIELD) if jv_settings.PRODUCT_PRICE_FIELD else None
            out[str(row["pk"])] = (stock_is_in(stock), None if price is None else float(price))
    return out


def first_image_urls(product_ids: Iterable[str]) -> dict[str, str]:
    """The URL of each product's first photo (by the image model's default ordering)."""
    image_model = get_image_model()
    fk = image_model._meta.get_field(jv_settings.PRODUCT_FIELD)
    ids = [str(p) for p in product_ids]
    if not ids:
        return {}
    out: dict[str, str] = {}
    images = image_model._default_manager.filter(**{f"{fk.attname}__in": ids})
    for image in images:
        pid = str(getattr(image, fk.attname))
        if pid in out:
            continue
        file = getattr(image, jv_settings.IMAGE_FIELD)
        if file:
            try:
                out[pid] = file.url
            except Exception:  # noqa: BLE001
                continue
    return out


@dataclass
class ProductTags:
    """Visible tags of one product by facet, best first: ``{"type": [("ring", 0.93)], ...}``."""

    by_facet: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def top(self, facet: str) -> str:
        values = self.by_facet.get(facet)
        return values[0][0] if values else ""

    def values(self, facet: str) -> set[str]:
        return {v for v, _ in self.by_facet.get(facet, ())}

    def as_list(self) -> list[dict]:
        return [
            {"facet": facet, "value": value, "confidence": round(conf, 4)}
            for facet, values in sorted(self.by_facet.items())
            for value, conf in values
        ]


def visible_tags(product_ids: Iterable[str]) -> dict[str, ProductTags]:
    """Tags shoppers see (``ProductTag.visible_q``) of many products, in one query per 2000."""
    ids = list(dict.fromkeys(str(p) for p in product_ids))
    out: dict[str, ProductTags] = {pid: ProductTags() for pid in ids}
    if not ids:
        return out
    grouped: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(ids), 2000):
        rows = (
            ProductTag.objects.filter(
                ProductTag.visible_q(), product_type=product_content_type(), product_id__in=ids[start : start + 2000]
            )
            .values_list("product_id", "tag__facet", "tag__value", "confidence", "review_state")
        )
        for pid, facet, value, confidence, state in rows:
            # An accepted tag ranks above any model suggestion.
            rank = 2.0 if state == ProductTag.Review.ACCEPTED else float(confidence)
            grouped[pid][facet].append((value, rank, float(confidence)))
    for pid, facets in grouped.items():
        out[pid] = ProductTags(
            {f: [(v, c) for v, _, c in sorted(vals, key=lambda t: (-t[1], t[0]))] for f, vals in facets.items()}
        )
    return out


def product_images(product_id: str) -> list[Any]:
    image_model = get_image_model()
    fk = image_model._meta.get_field(jv_settings.PRODUCT_FIELD)
    return list(image_model._default_manager.filter(**{fk.attname: product_id}))
