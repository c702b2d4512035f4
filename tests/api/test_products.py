"""Products, similar items, complete the look, recommendations and tag search through the API."""

import pytest

from tests.api.conftest import token_for

pytestmark = pytest.mark.django_db


def ids(response):
    return [r["id"] for r in response.json()["results"]]


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message", "details"}
    assert body["error"]["status"] == status and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_products_with_tags_filters_and_pagination(api, catalog):
    ring = catalog("ring", "gold", 1, price="120.00", tags={"type": "ring", "metal": "gold", "stone": "diamond"})
    pearls = catalog("earring", "silver", 2, price="80.00", tags={"type": "earring", "metal": "silver", "stone": "pearl"})
    catalog("necklace", "gold", 3, price="300.00", stock=0)
    r = api.get("/api/v1/products/", {"page_size": 2})
    body = r.json()
    assert r.status_code == 200 and body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    first = body["results"][0]
    assert set(first) == {"id", "title", "url", "image", "price", "in_stock", "tags"}
    assert {"facet": "type", "value": "ring", "confidence": 0.95} in first["tags"]
    assert first["image"].startswith("/media/") and first["url"] == f"/products/{ring.pk}/"
    assert ids(api.get("/api/v1/products/", {"type": "ring,earring", "metal": "silver"})) == [str(pearls.pk)]
    assert ids(api.get("/api/v1/products/", {"in_stock": "true", "price_max": 200})) == [str(ring.pk), str(pearls.pk)]
    assert ids(api.get("/api/v1/products/", {"q": "silver pearl earrings"})) == [str(pearls.pk)]
    # An empty price range matches nothing (the schema cannot say "price_max >= price_min", so it is no error).
    assert api.get("/api/v1/products/", {"price_min": 10, "price_max": 5}).json()["count"] == 0
    err = assert_error(api.get("/api/v1/products/", {"price_min": ""}), 400, "invalid")  # empty is no number
    assert "price_min" in err["details"]["fields"]
    assert_error(api.get("/api/v1/products/", {"page": 99}), 404, "not_found")


def test_product_detail_and_json_404s(api, catalog):
    ring = catalog("ring", "gold", 1)
    r = api.get(f"/api/v1/products/{ring.pk}/")
    assert r.status_code == 200 and r.json()["title"].startswith("Gold ring")
    assert_error(api.get("/api/v1/products/999999/"), 404, "not_found")
    assert_error(api.get("/api/v1/products/not-a-number/similar/"), 404, "not_found")
    assert_error(api.get("/api/v1/no/such/endpoint/"), 404, "not_found")
    assert_error(api.post("/api/v1/products/"), 405, "method_not_allowed")


def test_similar_items_mean_what_shoppers_mean(api, catalog):
    me = catalog("ring", "gold", 1)
    other_metal = catalog("ring", "silver", 1)  # the same design in silver
    similar = catalog("ring", "gold", 2)
    copy_a = catalog("ring", "gold", 2, name="Copy A")  # near-copies of `similar`
    copy_b = catalog("ring", "gold", 2, name="Copy B")
    necklace = catalog("necklace", "gold", 3)
    sold_out = catalog("ring", "rose gold", 1, stock=0)
    r = api.get(f"/api/v1/products/{me.pk}/similar/", {"limit": 4})
    assert r.status_code == 200
    results = r.json()["results"]
    got = [x["id"] for x in results]
    assert str(me.pk) not in got  # never the product itself
    assert got[0] == str(other_metal.pk) and results[0]["reason"] == "other_metal"
    assert str(similar.pk) in got or str(copy_a.pk) in got
    assert len({str(similar.pk), str(copy_a.pk), str(copy_b.pk)} & set(got)) == 1  # near-copies collapsed
    assert str(sold_out.pk) not in got
    # Another type comes last, after every ring, and says why it is there.
    assert got[-1] == str(necklace.pk) and results[-1]["reason"] == "other_type"
    assert all(r["reason"] != "other_type" for r in results[:-1])
    assert str(sold_out.pk) in ids(api.get(f"/api/v1/products/{me.pk}/similar/", {"in_stock": "false", "limit": 10}))
    assert_error(api.get(f"/api/v1/products/{me.pk}/similar/", {"limit": 0}), 400)


def test_complete_the_look_gives_other_types_in_the_same_tone(api, catalog):
    necklace = catalog("necklace", "gold", 1, tags={"type": "necklace", "metal": "gold", "style": "vintage"})
    earrings = catalog("earring", "gold", 2, tags={"type": "earring", "metal": "gold", "style": "vintage"})
    bracelet = catalog("bracelet", "gold", 3, tags={"type": "bracelet", "metal": "gold"})
    silver = catalog("earring", "silver", 2, tags={"type": "earring", "metal": "silver"})
    other_necklace = catalog("necklace", "gold", 4)
    got = ids(api.get(f"/api/v1/products/{necklace.pk}/complete-the-look/"))
    assert got[:2] == [str(earrings.pk), str(bracelet.pk)]  # one per type, earrings first for a necklace
    assert str(silver.pk) not in got and str(other_necklace.pk) not in got and str(necklace.pk) not in got


def test_recommendations_follow_the_session_and_the_account(api, catalog, shopper):
    rings = [catalog("ring", "gold", s) for s in (1, 2, 3)]
    necklaces = [catalog("necklace", "silver", s) for s in (4, 5)]
    cold = ids(api.get("/api/v1/recommendations/"))
    assert cold  # new products without history
    api.get(f"/api/v1/products/{rings[0].pk}/")
    got = ids(api.get("/api/v1/recommendations/", {"limit": 2}))
    assert str(rings[0].pk) not in got and set(got) == {str(rings[1].pk), str(rings[2].pk)}
    # A signed-in customer (token auth, no session) keeps a history across devices.
    token = {"HTTP_AUTHORIZATION": f"Token {token_for(shopper)}"}
    from django.test import Client

    phone = Client()
    phone.get(f"/api/v1/products/{necklaces[0].pk}/", **token)
    from jewel_vision.models import ProductView

    assert ProductView.objects.filter(user=shopper, product_id=str(necklaces[0].pk)).exists()
    got = ids(Client().get("/api/v1/recommendations/", {"limit": 1}, **token))
    assert got == [str(necklaces[1].pk)]


def test_tag_search_and_facets(api, catalog):
    a = catalog("earring", "gold", 1, tags={"type": "earring", "metal": "gold", "stone": "pearl"})
    catalog("earring", "silver", 2, tags={"type": "earring", "metal": "silver", "stone": "pearl"})
    catalog("ring", "gold", 3, tags={"type": "ring", "metal": "gold"})
    r = api.get("/api/v1/search/", {"q": "Gold pearl earrings for mum"})
    body = r.json()
    assert r.status_code == 200
    assert body["query"]["facets"] == {"metal": ["gold"], "stone": ["pearl"], "type": ["earring"]}
    assert [p["id"] for p in body["results"]] == [str(a.pk)] and body["count"] == 1
    assert body["facets"]["stone"] == [{"value": "pearl", "count": 1}]
    facets = api.get("/api/v1/facets/").json()["facets"]
    assert {"value": "earring", "count": 2} in facets["type"] and {"value": "gold", "count": 2} in facets["metal"]


def test_analysis_status_of_an_image(api, catalog, make_product, add_photo):
    ring = catalog("ring", "gold", 1)
    image = ring.images.first()
    body = api.get(f"/api/v1/images/{image.pk}/analysis/").json()
    assert body["status"] == "done" and body["has_embedding"] is True
    assert {"facet": "type", "value": "ring", "confidence": 0.95} in body["tags"]
    pending = add_photo(make_product())
    assert api.get(f"/api/v1/images/{pending.pk}/analysis/").json()["status"] == "pending"
    assert_error(api.get("/api/v1/images/424242/analysis/"), 404)
