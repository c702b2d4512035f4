"""Tag search: browse by type, metal, stone, colour...; a text query mapped to facets.

    parse_query("gold pearl earrings")
    # ParsedQuery(facets={"metal": ["gold"], "stone": ["pearl"], "type": ["earring"]}, words=[])

Values are matched against the tags that exist (``Tag`` rows) and a small
built-in vocabulary of jewelry words, singular or plural, longest phrase
first ("rose gold" before "gold"). Words that match no facet are kept in
``words`` and, when nothing else matched, searched in the product name.

Only products shoppers may see (``JEWEL_VISION["SHOPPER_QUERYSET"]``) are
searched and counted, and only tags shoppers see count (``ProductTag.visible_q``): accepted, or model
suggestions at or above their display threshold (the shop's per-facet override,
else the model's per-label threshold, else DISPLAY_THRESHOLD).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Count, Q, QuerySet
from django.db.models.functions import Cast

from jewel_vision.conf import jv_settings
from jewel_vision.registry import get_product_model, product_content_type
from jewel_vision.index.products import in_stock_q, limits_shoppers, price_q, shopper_products
from jewel_vision.models import ProductTag, Tag

#: Facets shoppers browse by, in the order an ambiguous word is assigned.
FACETS = ("type", "metal", "stone", "metal_tone", "colour", "style")

#: word -> (facet, value) when no tag says otherwise.
VOCABULARY: dict[str, tuple[str, str]] = {
    # type
    "ring": ("type", "ring"), "band": ("type", "ring"), "engagement ring": ("type", "ring"),
    "necklace": ("type", "necklace"), "chain": ("type", "necklace"), "choker": ("type", "necklace"),
    "pendant": ("type", "pendant"), "locket": ("type", "pendant"),
    "earring": ("type", "earring"), "stud": ("type", "earring"), "hoop": ("type", "earring"),
    "bracelet": ("type", "bracelet"), "bangle": ("type", "bracelet"), "cuff": ("type", "bracelet"),
    "watch": ("type", "watch"), "brooch": ("type", "brooch"), "anklet": ("type", "anklet"),
    # metal
    "gold": ("metal", "gold"), "golden": ("metal", "gold"), "yellow gold": ("metal", "gold"),
    "white gold": ("metal", "white gold"), "rose gold": ("metal", "rose gold"),
    "silver": ("metal", "silver"), "sterling": ("metal", "silver"), "sterling silver": ("metal", "silver"),
    "platinum": ("metal", "platinum"), "titanium": ("metal", "titanium"), "steel": ("metal", "steel"),
    # stone
    "diamond": ("stone", "diamond"), "pearl": ("stone", "pearl"), "ruby": ("stone", "ruby"),
    "sapphire": ("stone", "sapphire"), "emerald": ("stone", "emerald"), "amethyst": ("stone", "amethyst"),
    "topaz": ("stone", "topaz"), "opal": ("stone", "opal"), "garnet": ("stone", "garnet"),
    "turquoise": ("stone", "turquoise"), "aquamarine": ("stone", "aquamarine"), "onyx": ("stone", "onyx"),
    "cubic zirconia": ("stone", "cubic zirconia"), "zirconia": ("stone", "cubic zirconia"),
    # colour
    "red": ("colour", "red"), "blue": ("colour", "blue"), "green": ("colour", "green"),
    "black": ("colour", "black"), "white": ("colour", "white"), "pink": ("colour", "pink"),
    "purple": ("colour", "purple"), "yellow": ("colour", "yellow"),
    # style
    "minimalist": ("style", "minimalist"), "minimal": ("style", "minimalist"), "vintage": ("style", "vintage"),
    "luxury": ("style", "luxury"), "ethnic": ("style", "ethnic"), "boho": ("style", "boho"),
}

STOPWORDS = frozenset("a an and the for with in of to my me her his mum mom gift gifts set sets piece pieces".split())


@dataclass
class ParsedQuery:
    text: str
    facets: dict[str, list[str]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"text": self.text, "facets": self.facets, "words": self.words}


def _singular(word: str) -> str:
    for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and not word.endswith("ss"):
            return word[: -len(suffix)] + repl
    return word


def _known_values() -> dict[str, tuple[str, str]]:
    """Phrase -> (facet, value) from the tags in the database, then the built-in vocabulary."""
    known = dict(VOCABULARY)
    rank = {f: i for i, f in enumerate(FACETS)}
    from_db: dict[str, tuple[str, str]] = {}
    for facet, value in Tag.objects.filter(facet__in=FACETS).values_list("facet", "value"):
        phrase = value.lower().replace("_", " ").strip()
        current = from_db.get(phrase)
        if current is None or rank[facet] < rank[current[0]]:
            from_db[phrase] = (facet, value)
    # A tag value that exists wins over the vocabulary's guess for the same phrase.
    for phrase, fv in from_db.items():
        known[phrase] = fv
        known.setdefault(_singular(phrase), fv)
    # Vocabulary entries point at the spelling the database uses, when it has one.
    db_spelling = {(f, v.lower()): (f, v) for f, v in from_db.values()}
    for phrase, (f, v) in list(known.items()):
        known[phrase] = db_spelling.get((f, v.lower()), (f, v))
    return known


def parse_query(text: str) -> ParsedQuery:
    """Map a shopper's words to facet values, longest phrase first."""
    text = (text or "").strip()
    tokens = [_singular(t) for t in re.findall(r"[\w']+", text.lower())]
    known = _known_values()
    longest = max((len(p.split()) for p in known), default=1)
    parsed = ParsedQuery(text)
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + n])
            hit = known.get(phrase) or known.get(" ".join(tokens[i : i + n - 1] + [_singular(tokens[i + n - 1])]))
            if hit:
                values = parsed.facets.setdefault(hit[0], [])
                if hit[1] not in values:
                    values.append(hit[1])
                i += n
                break
        else:
            if tokens[i] not in STOPWORDS:
                parsed.words.append(tokens[i])
            i += 1
    return parsed


def visible_tag_q(facet: str, values: Iterable[str]) -> Q:
    """ProductTag rows shoppers see for these values of one facet."""
    return Q(tag__facet=facet, tag__value__in=list(values)) & ProductTag.visible_q(facet)


def filter_products(
    facets: dict[str, list[str]] | None = None,
    *,
    in_stock: bool | None = None,
    price_min: float | None = None,
    price_max: float | None = None,
    words: Iterable[str] = (),
    queryset: QuerySet | None = None,
) -> QuerySet:
    """Products having a visible tag among the values of every given facet (OR within, AND across).

    ``queryset`` defaults to the products shoppers may see (``shopper_products``).
    """
    qs = queryset if queryset is not None else shopper_products(get_product_model()._default_manager.all())
    ptype = product_content_type()
    if facets:
        qs = qs.annotate(_jv_pk=Cast("pk", output_field=CharField(max_length=64)))
        for facet, values in facets.items():
            if not values:
                continue
            ids = ProductTag.objects.filter(visible_tag_q(facet, values), product_type=ptype).values("product_id")
            qs = qs.filter(_jv_pk__in=ids)
    if in_stock:
        qs = qs.filter(in_stock_q())
    qs = qs.filter(price_q(price_min, price_max))
    name = jv_settings.PRODUCT_NAME_FIELD
    for word in words:
        if name:
            qs = qs.filter(**{f"{name}__icontains": word})
    return qs


def search_products(
    text: str = "",
    facets: dict[str, list[str]] | None = None,
    **options: Any,
) -> tuple[ParsedQuery, QuerySet]:
    """A text query plus explicit facet filters -> (what was understood, matching products)."""
    parsed = parse_query(text) if text else ParsedQuery("")
    merged: dict[str, list[str]] = {f: list(v) for f, v in parsed.facets.items()}
    for facet, values in (facets or {}).items():
        merged.setdefault(facet, [])
        merged[facet] += [v for v in values if v not in merged[facet]]
    words = parsed.words if not parsed.facets else []
    return parsed, filter_products(merged, words=words, **options)


def product_ids_for(facets: dict[str, list[str]], *, in_stock: bool | None = None, limit: int = 50) -> list[str]:
    qs = filter_products(facets, in_stock=in_stock).order_by("-pk")
    return [str(pk) for pk in qs.values_list("pk", flat=True)[:limit]]


def facet_counts(
    products: QuerySet | None = None, facets: Iterable[str] = FACETS, *, cache_seconds: float | None = 0
) -> dict[str, list[tuple[str, int]]]:
    """How many of ``products`` (default: those shoppers may see) have each visible value of each facet, most common first.

    Counted by the database (one GROUP BY over the visible tags), so the work in Python
    is bounded by the number of distinct values, not of tagged products. With
    ``cache_seconds`` (None: ``FACET_COUNTS_CACHE_SECONDS``) the answer is cached that
    long under a key made of the products query and the facets: shoppers' pages use it;
    staff and tests that need the exact count now leave it at 0.
    """
    from django.core.cache import cache

    facets = tuple(facets)
    if products is None and limits_shoppers():
        products = shopper_products()
    if cache_seconds is None:
        cache_seconds = jv_settings.FACET_COUNTS_CACHE_SECONDS
    key = _facet_cache_key(products, facets) if cache_seconds and cache_seconds > 0 else None
    if key is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    rows = ProductTag.objects.filter(ProductTag.visible_q(), product_type=product_content_type(), tag__facet__in=list(facets))
    if products is not None:
        ids = products.annotate(_jv_pk2=Cast("pk", output_field=CharField(max_length=64))).values("_jv_pk2")
        rows = rows.filter(product_id__in=ids)
    grouped = rows.order_by().values("tag__facet", "tag__value").annotate(n=Count("pk"))
    counts: dict[str, list[tuple[str, int]]] = {f: [] for f in facets}
    for row in grouped:
        counts[row["tag__facet"]].append((row["tag__value"], row["n"]))
    result = {f: sorted(c, key=lambda kv: (-kv[1], kv[0])) for f, c in counts.items() if c}
    if key is not None:
        cache.set(key, result, cache_seconds)
    return result


def _facet_cache_key(products: QuerySet | None, facets: tuple[str, ...]) -> str | None:
    import hashlib

    from django.db import connection

    try:
        query = "" if products is None else repr(products.query.sql_with_params())
    except Exception:  # noqa: BLE001 - a query that cannot be rendered is simply not cached
        return None
    raw = repr((connection.settings_dict.get("NAME"), query, facets))
    return "jv-facets:" + hashlib.sha256(raw.encode()).hexdigest()
