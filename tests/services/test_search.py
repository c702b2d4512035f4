"""Tag search: text mapped to facets, visibility of tags, facet counts."""

import pytest

from jewel_vision.services import search
from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "text, facets, words",
    [
        ("gold pearl earrings", {"metal": ["gold"], "stone": ["pearl"], "type": ["earring"]}, []),
        ("Rose Gold RINGS", {"metal": ["rose gold"], "type": ["ring"]}, []),
        ("sterling silver bangles with rubies", {"metal": ["silver"], "type": ["bracelet"], "stone": ["ruby"]}, []),
        ("vintage necklace for my mum", {"style": ["vintage"], "type": ["necklace"]}, []),
        ("sparkly thing", {}, ["sparkly", "thing"]),
        ("", {}, []),
    ],
)
def test_text_maps_to_facets(text, facets, words):
    parsed = search.parse_query(text)
    assert parsed.facets == facets and parsed.words == words


def test_the_shops_own_tag_values_win(db):
    from jewel_vision.models import Tag

    Tag.objects.create(facet="stone", value="Freshwater Pearl")
    Tag.objects.create(facet="metal", value="Gold")
    assert search.parse_query("freshwater pearl drops").facets == {"stone": ["Freshwater Pearl"]}
    assert search.parse_query("golden hoops").facets == {"metal": ["Gold"], "type": ["earring"]}


def test_only_tags_shoppers_see_match(catalog, admin_user):
    from jewel_vision.services import review
    from jewel_vision.models import ProductTag

    confident = catalog("earring", "gold", 1, tags={"type": "earring", "stone": "pearl"})
    unsure = catalog("earring", "gold", 2, tags={"type": "earring"})
    ProductTag.objects.create(product_type=ProductTag.objects.first().product_type, product_id=str(unsure.pk),
                              tag=ProductTag.objects.get(product_id=str(confident.pk), tag__facet="stone").tag,
                              confidence=0.3)  # a suggestion below the display threshold
    _, qs = search.search_products("pearl earrings")
    assert list(qs) == [confident]
    review.reject(ProductTag.objects.get(product_id=str(confident.pk), tag__facet="stone"), admin_user)
    assert list(search.search_products("pearl earrings")[1]) == []
    review.accept(ProductTag.objects.get(product_id=str(unsure.pk), tag__facet="stone"), admin_user)
    assert list(search.search_products("pearl earrings")[1]) == [unsure]


def test_filters_and_facet_counts(catalog):
    a = catalog("ring", "gold", 1, price="50.00")
    b = catalog("ring", "silver", 2, price="500.00", stock=0)
    c = catalog("necklace", "gold", 3, price="80.00")
    assert set(search.filter_products({"type": ["ring"]})) == {a, b}
    assert list(search.filter_products({"type": ["ring"]}, in_stock=True)) == [a]
    assert set(search.filter_products({"metal": ["gold"]}, price_max=60)) == {a}
    assert set(search.filter_products({"type": ["ring", "necklace"], "metal": ["gold"]})) == {a, c}
    counts = search.facet_counts()
    assert counts["type"] == [("ring", 2), ("necklace", 1)] and counts["metal"] == [("gold", 2), ("silver", 1)]
    assert search.facet_counts(search.filter_products({"metal": ["silver"]}))["type"] == [("ring", 1)]
    # Words that are no facet search the name when nothing else matched.
    _, qs = search.search_products("Silver ring 2")
    assert b in qs
    _, qs = search.search_products("zzz-unknown")
    assert list(qs) == []


# (facet, confidence, the model's per-label threshold, review state, shown to shoppers), with
# DISPLAY_THRESHOLD 0.6 and the shop's overrides FACET_THRESHOLDS {"stone": 0.7, "metal": 0.95}.
VISIBILITY_CASES = [
    ("type", 0.8, 0.9, "suggested", False),  # below the label's own threshold: a suggestion for review
    ("type", 0.95, 0.9, "suggested", True),
    ("type", 0.9, 0.9, "suggested", True),  # at the threshold counts
    ("type", 0.55, 0.5, "suggested", True),  # the label's threshold, not DISPLAY_THRESHOLD
    ("colour", 0.65, None, "suggested", True),  # no label threshold: DISPLAY_THRESHOLD
    ("colour", 0.55, None, "suggested", False),
    ("stone", 0.75, 0.9, "suggested", True),  # the shop's facet override wins over the model's threshold...
    ("metal", 0.9, 0.5, "suggested", False),  # ...both ways
    ("stone", 0.65, None, "suggested", False),
    ("type", 0.1, 0.9, "accepted", True),  # a person accepted it: always shown
    ("metal", 0.2, None, "accepted", True),
    ("type", 0.99, 0.5, "rejected", False),  # rejected: never shown
    ("colour", 0.99, None, "rejected", False),
]


def test_one_visibility_rule_everywhere(make_product, settings, admin_client):
    from django.contrib.contenttypes.models import ContentType

    from jewel_vision.index.products import visible_tags
    from jewel_vision.models import ProductTag, Tag
    from shop.models import Product

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6, "FACET_THRESHOLDS": {"stone": 0.7, "metal": 0.95}}
    ptype = ContentType.objects.get_for_model(Product)
    rows = []
    for i, (facet, confidence, threshold, state, shown) in enumerate(VISIBILITY_CASES):
        product = make_product()
        tag = ProductTag.objects.create(
            product_type=ptype, product_id=str(product.pk), tag=Tag.objects.create(facet=facet, value=f"v{i}"),
            confidence=confidence, threshold=threshold, review_state=state,
        )
        rows.append((product, tag, shown))
    expected = {tag.pk for _, tag, shown in rows if shown}

    # The model, in Python and in the database.
    assert {t.pk for t in ProductTag.objects.select_related("tag") if t.is_visible} == expected
    assert set(ProductTag.objects.filter(ProductTag.visible_q()).values_list("pk", flat=True)) == expected
    # Tag search, facet counts, the tags on product cards and in the index, the API's review list.
    counts = search.facet_counts(facets=("type", "colour", "stone", "metal"))
    shown_values = {(f, v) for f, values in counts.items() for v, _ in values}
    tags_by_product = visible_tags(str(p.pk) for p, _, _ in rows)
    for product, tag, shown in rows:
        facet, value = tag.tag.facet, tag.tag.value
        assert list(search.filter_products({facet: [value]})) == ([product] if shown else []), (facet, value)
        assert ((facet, value) in shown_values) == shown, (facet, value)
        assert tags_by_product[str(product.pk)].values(facet) == ({value} if shown else set()), (facet, value)

    # The admin lists the threshold and filters the suggestions below it.
    response = admin_client.get("/admin/jewel_vision/producttag/", {"shown": "below"})
    assert response.status_code == 200
    below = {t.pk for _, t, shown in rows if not shown and t.review_state == "suggested"}
    assert {t.pk for t in response.context["cl"].result_list} == below
    response = admin_client.get("/admin/jewel_vision/producttag/", {"shown": "yes"})
    assert {t.pk for t in response.context["cl"].result_list} == expected
    assert b"applied threshold" in response.content.lower()
