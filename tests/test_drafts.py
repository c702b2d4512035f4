"""Drafts: one setting says what shoppers may see, and every shopper-facing path obeys it (issue 10, item 7).

``JEWEL_VISION["SHOPPER_QUERYSET"]`` names a function that takes the product
queryset and returns what shoppers may see; the demo shop's is
``shop.models.shopper_products`` (published products). A draft here is the
closest match to every query, so any path that forgot the setting shows it.
"""

from __future__ import annotations

import pytest

from tests.conftest import photo_bytes
from tests.index.helpers import _type_head, catalog, embed_photo, jv_env  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings, jv_env, catalog):
    settings.JEWEL_VISION = {**jv_env, "SHOPPER_QUERYSET": "shop.models.shopper_products"}
    ring = catalog("ring", "gold", 1, name="Gold ring")
    silver = catalog("ring", "silver", 3, name="Silver ring")
    necklace = catalog("necklace", "gold", 4, name="Gold necklace")
    # The draft: the same design as the gold ring, a stone no published product has, created last (newest).
    draft = catalog("ring", "gold", 2, name="Secret opal ring", published=False,
                    tags={"type": "ring", "metal": "gold", "stone": "opal"})
    return {"ring": ring, "silver": silver, "necklace": necklace, "draft": draft}


def _ids(body) -> list[str]:
    return [r["id"] for r in body["results"]]


def _href(product) -> str:
    return f'href="/products/{product.pk}/"'


def test_the_setting_is_validated(settings):
    from django.core.exceptions import ImproperlyConfigured

    from jewel_vision.conf import jv_settings

    for bad, words in (("shop.models.no_such_function", "cannot be imported"), ("jewel_vision.conf.SETTING_NAME", "not callable"),
                       (42, "dotted path")):
        settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PHOTO_SEARCH": "in_process", "SHOPPER_QUERYSET": bad}
        with pytest.raises(ImproperlyConfigured, match="SHOPPER_QUERYSET") as excinfo:
            jv_settings.validate()
        assert words in str(excinfo.value)
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PHOTO_SEARCH": "in_process", "SHOPPER_QUERYSET": None}
    jv_settings.validate()


def test_the_index_never_returns_a_draft(shop):
    from jewel_vision.index import get_index
    from jewel_vision.models import VectorItem

    draft = shop["draft"]
    hits = get_index().search_products(embed_photo("ring", "gold", 2), 10)
    assert str(draft.pk) not in [h.product_id for h in hits] and len(hits) == 3
    assert not VectorItem.objects.filter(product_id=str(draft.pk)).exists()
    # Publishing is a save: the index follows it, and withdrawing it again too.
    draft.published = True
    draft.save()
    hits = get_index().search_products(embed_photo("ring", "gold", 2), 10)
    assert hits[0].product_id == str(draft.pk)
    draft.published = False
    draft.save()
    assert str(draft.pk) not in [h.product_id for h in get_index().search_products(embed_photo("ring", "gold", 2), 10)]


def test_no_api_path_shows_a_draft(client, shop):
    from django.core.files.uploadedfile import SimpleUploadedFile

    draft, ring, necklace = str(shop["draft"].pk), shop["ring"], shop["necklace"]
    # List, detail, tag search, facets.
    body = client.get("/api/v1/products/").json()
    assert draft not in _ids(body) and body["count"] == 3
    for path in ("", "similar/", "complete-the-look/"):
        assert client.get(f"/api/v1/products/{draft}/{path}").status_code == 404
    assert client.get("/api/v1/products/", {"stone": "opal"}).json()["results"] == []
    found = client.get("/api/v1/search/", {"q": "opal ring"}).json()
    assert found["results"] == [] and "opal" not in str(found["facets"])
    assert _ids(client.get("/api/v1/search/", {"q": "secret"}).json()) == []
    assert "opal" not in str(client.get("/api/v1/facets/").json())
    # Similar, complete the look.
    similar = _ids(client.get(f"/api/v1/products/{ring.pk}/similar/").json())
    assert draft not in similar and str(shop["silver"].pk) in similar
    look = _ids(client.get(f"/api/v1/products/{necklace.pk}/complete-the-look/").json())
    assert draft not in look and str(ring.pk) in look
    # Search by photo: the draft's own photo.
    r = client.post("/api/v1/search/photo/", {"image": SimpleUploadedFile("p.jpg", photo_bytes("ring", "gold", seed=2))})
    assert r.status_code == 200 and draft not in _ids(r.json()) and _ids(r.json())[0] == str(ring.pk)
    # Recommendations: new products without history, then from a viewed ring.
    assert draft not in _ids(client.get("/api/v1/recommendations/").json())
    assert client.get(f"/api/v1/products/{ring.pk}/").status_code == 200
    recommended = _ids(client.get("/api/v1/recommendations/").json())
    assert recommended and draft not in recommended


def test_no_page_of_the_shop_shows_a_draft(client, shop):
    from django.core.files.uploadedfile import SimpleUploadedFile

    draft, ring, necklace = shop["draft"], shop["ring"], shop["necklace"]
    assert client.get(f"/products/{draft.pk}/").status_code == 404
    listing = client.get("/").content.decode()
    assert _href(ring) in listing and _href(draft) not in listing
    for q in ("opal", "secret", "gold ring"):
        page = client.get("/search/", {"q": q}).content.decode()
        assert _href(draft) not in page and "opal (" not in page
    # Product pages: similar items and complete the look widgets.
    page = client.get(f"/products/{ring.pk}/").content.decode()
    assert _href(shop["silver"]) in page and _href(draft) not in page
    page = client.get(f"/products/{necklace.pk}/").content.decode()
    assert _href(ring) in page and _href(draft) not in page
    # The recommendations widget on the catalogue, after viewing the ring.
    listing = client.get("/").content.decode()
    assert _href(draft) not in listing
    # Search by photo with the draft's own photo.
    page = client.post("/search/photo/", {"image": SimpleUploadedFile("p.jpg", photo_bytes("ring", "gold", seed=2))})
    assert page.status_code == 200
    assert _href(ring) in page.content.decode() and _href(draft) not in page.content.decode()


def test_widgets_and_library_calls_leave_drafts_out(rf, shop):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore
    from django.template import Context, Template

    from jewel_vision.services import recommendations, search, similarity

    draft = str(shop["draft"].pk)
    request = rf.get("/")
    request.session, request.user = SessionStore(), AnonymousUser()
    recommendations.record_view(request, shop["ring"])
    html = Template(
        "{% load jewel_vision %}{% jewel_similar p %}{% jewel_complete_the_look n %}{% jewel_recommendations %}"
    ).render(Context({"p": shop["ring"], "n": shop["necklace"], "request": request}))
    assert _href(shop["silver"]) in html and _href(shop["draft"]) not in html
    assert draft not in [c.product_id for c in recommendations.recommend(request)]
    assert draft not in [c.product_id for c in recommendations.new_products(8)]
    assert draft not in [c.product_id for c in similarity.similar_products(shop["ring"])]
    vector = embed_photo("ring", "gold", 2)
    assert draft not in [c.product_id for c in similarity.search_by_vector(vector)]
    _, qs = search.search_products("opal")
    assert list(qs) == []
    assert "opal" not in str(search.facet_counts())


def test_a_draft_leaks_nowhere_even_if_the_index_is_stale(client, shop):
    """Visibility changed without ``save()`` (a bulk update): cards are still checked against the setting."""
    from jewel_vision.services import similarity
    from shop.models import Product

    ring = shop["ring"]
    Product.objects.filter(pk=shop["silver"].pk).update(published=False)  # no signal: the index still has it
    assert str(shop["silver"].pk) not in [c.product_id for c in similarity.similar_products(ring)]
    assert str(shop["silver"].pk) not in _ids(client.get(f"/api/v1/products/{ring.pk}/similar/").json())


def test_the_analysis_of_a_drafts_photo_is_not_public(client, shop):
    image = shop["draft"].images.first()
    assert client.get(f"/api/v1/images/{image.pk}/analysis/").status_code == 404
    assert client.get(f"/api/v1/images/{shop['ring'].images.first().pk}/analysis/").status_code == 200
