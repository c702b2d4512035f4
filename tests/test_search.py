"""Tag search: text mapped to facets, visibility of tags, facet counts."""

import pytest

from jewel_vision import search
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
    from jewel_vision import review
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
