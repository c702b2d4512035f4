"""Reads that must not grow without limit (issue 10, item 11)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jewel_vision.services import search
from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401

pytestmark = pytest.mark.django_db


def test_facet_counts_are_one_database_aggregation_and_cached_briefly(catalog):
    for seed in range(3):
        catalog("ring", "gold", seed, tags={"type": "ring", "metal": "gold"})
    catalog("earring", "silver", 4, tags={"type": "earring", "metal": "silver"})
    with CaptureQueriesContext(connection) as queries:
        counts = search.facet_counts(cache_seconds=30)
    assert counts["type"] == [("ring", 3), ("earring", 1)] and counts["metal"] == [("gold", 3), ("silver", 1)]
    counting = [q["sql"] for q in queries if "jewel_vision_producttag" in q["sql"]]
    # The database groups and counts: no row per tagged product comes back to Python.
    assert len(counting) == 1 and "GROUP BY" in counting[0] and "COUNT(" in counting[0].upper()
    with CaptureQueriesContext(connection) as queries:
        assert search.facet_counts(cache_seconds=30) == counts
    assert len(queries) == 0  # served from the cache
    # Uncached (the default for library callers): exact.
    catalog("ring", "gold", 5, tags={"type": "ring"})
    assert search.facet_counts()["type"][0] == ("ring", 4)


def test_an_anonymous_reader_never_creates_a_session_row_but_is_remembered(client, catalog):
    from django.contrib.sessions.models import Session

    ring = catalog("ring", "gold", 1)
    necklace = catalog("necklace", "gold", 2)
    for url in (f"/api/v1/products/{ring.pk}/", f"/products/{necklace.pk}/", "/api/v1/products/", "/"):
        r = client.get(url)
        assert r.status_code == 200, url
    assert Session.objects.count() == 0
    # The views are in a signed cookie: recommendations still know them.
    from jewel_vision.services.recommendations import COOKIE_NAME

    assert COOKIE_NAME in client.cookies
    r = client.get("/api/v1/recommendations/")
    assert r.status_code == 200
    got = [x["id"] for x in r.json()["results"]]
    assert str(ring.pk) not in got and str(necklace.pk) not in got  # what was viewed is excluded
    # A forged cookie is ignored.
    client.cookies[COOKIE_NAME] = "not-signed"
    assert client.get("/api/v1/recommendations/").status_code == 200


def test_a_visitor_with_a_session_keeps_views_in_it(client, catalog, django_user_model):
    from jewel_vision.services.recommendations import SESSION_KEY

    ring = catalog("ring", "gold", 1)
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123")
    client.force_login(user)
    client.get(f"/products/{ring.pk}/")
    assert client.session[SESSION_KEY] == [str(ring.pk)]


def test_product_views_are_capped_per_customer(settings, rf, catalog, django_user_model):
    from jewel_vision.models import ProductView
    from jewel_vision.services.recommendations import record_view

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PRODUCT_VIEWS_PER_USER": 3}
    user = django_user_model.objects.create_user("browser", password="pw-browser-123")
    products = [catalog("ring", "gold", i) for i in range(5)]
    for product in products:
        request = rf.get("/")
        request.user = user
        record_view(request, product)
    kept = list(ProductView.objects.filter(user=user).order_by("-viewed_at", "-pk").values_list("product_id", flat=True))
    assert kept == [str(p.pk) for p in reversed(products)][:3]


def test_the_catalogue_is_paginated(client, make_product):
    from shop.views import PRODUCTS_PER_PAGE

    for _ in range(PRODUCTS_PER_PAGE + 3):
        make_product()
    first = client.get("/")
    assert first.status_code == 200 and first.content.count(b'class="card"') == PRODUCTS_PER_PAGE
    assert b"?page=2" in first.content
    second = client.get("/", {"page": 2})
    assert second.content.count(b'class="card"') == 3
    assert client.get("/", {"page": "junk"}).status_code == 200
