"""Search by photo (real model, real uploads), upload limits, tag review permissions, throttling, errors."""

import io

import pytest
from PIL import Image

from tests.api.conftest import token_for
from tests.api.test_products import assert_error, ids
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def two_pieces_photo() -> bytes:
    """A photo with a necklace on the left and a bracelet on the right."""
    from shop.catalog import draw_item
    import random

    left = draw_item("necklace", "gold", random.Random(11))
    right = draw_item("bracelet", "silver", random.Random(12))
    canvas = Image.new("RGB", (768, 384), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (384, 0))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def upload(api, data: bytes, name="photo.jpg", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post("/api/v1/search/photo/", {"image": SimpleUploadedFile(name, data), **fields})


def test_search_by_photo_finds_the_product_and_a_picked_piece(api, catalog):
    necklace = catalog("necklace", "gold", 11)
    bracelet = catalog("bracelet", "silver", 12)
    ring = catalog("ring", "gold", 13)
    # A new photo of the ring (another drawing of the same design) finds the ring.
    r = upload(api, photo_bytes("ring", "gold", seed=13))
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["results"][0]["id"] == str(ring.pk) and body["results"][0]["reason"] == "photo_match"
    assert body["timings_ms"]["analyse"] > 0 and body["box"] is None
    # Two pieces in one photo: each half, picked by its box, finds its own product.
    both = two_pieces_photo()
    left = upload(api, both, box="0,0,0.5,1").json()
    right = upload(api, both, box="0.5,0,1,1").json()
    assert left["results"][0]["id"] == str(necklace.pk) and left["box"] == [0, 0, 0.5, 1]
    assert right["results"][0]["id"] == str(bracelet.pk)
    # Filters apply in the index.
    only_rings = upload(api, both, box="0,0,0.5,1", type="ring").json()
    assert [x["id"] for x in only_rings["results"]] == [str(ring.pk)]


@pytest.mark.parametrize(
    "make, status, code, words",
    [
        (lambda: b"this is not an image at all", 400, "invalid_image", "not an image"),
        (lambda: b"", 400, None, "empty"),
        (lambda: photo_bytes("ring")[:300], 400, "invalid_image", ""),
    ],
)
def test_bad_uploads_get_a_clear_4xx(api, jv_env, make, status, code, words):
    err = assert_error(upload(api, make()), status, code)
    assert words in err["message"].lower()


def test_too_large_uploads_get_413(api, settings, jv_env):
    settings.JEWEL_VISION = {**jv_env, "UPLOAD_MAX_BYTES": 50_000, "UPLOAD_MAX_PIXELS": 1_000_000}
    big = io.BytesIO()
    Image.effect_noise((400, 400), 64).convert("RGB").save(big, "PNG")
    err = assert_error(upload(api, big.getvalue(), "big.png"), 413, "file_too_large")
    assert "50000" in err["message"]
    # Many pixels in a small file (a decompression bomb): refused from the header.
    bomb = io.BytesIO()
    Image.new("L", (2000, 2000)).save(bomb, "PNG", optimize=True)
    assert len(bomb.getvalue()) < 50_000
    err = assert_error(upload(api, bomb.getvalue(), "bomb.png"), 413, "file_too_large")
    assert "pixels" in err["message"]


def test_photo_search_input_errors(api, jv_env):
    assert_error(api.post("/api/v1/search/photo/", {}), 400, "invalid")
    err = assert_error(upload(api, photo_bytes("ring"), box="0.5,0.5,0.2,2"), 400, "invalid")
    assert "box" in err["details"]["fields"]
    assert_error(api.get("/api/v1/search/photo/"), 405)


def test_tag_review_is_for_staff(api, catalog, staff, shopper):
    from jewel_vision.models import ProductTag

    ring = catalog("ring", "gold", 1, tags={"type": "ring", "metal": "gold"})
    metal = ProductTag.objects.get(product_id=str(ring.pk), tag__facet="metal")
    # Anonymous: 401 with a Token challenge; a customer: 403.
    err = assert_error(api.post(f"/api/v1/product-tags/{metal.pk}/reject/"), 401, "not_authenticated")
    as_shopper = {"HTTP_AUTHORIZATION": f"Token {token_for(shopper)}"}
    assert_error(api.post(f"/api/v1/product-tags/{metal.pk}/reject/", **as_shopper), 403, "permission_denied")
    assert_error(api.get(f"/api/v1/products/{ring.pk}/tags/", **as_shopper), 403)
    as_staff = {"HTTP_AUTHORIZATION": f"Token {token_for(staff)}"}
    r = api.post(f"/api/v1/product-tags/{metal.pk}/reject/", **as_staff)
    assert r.status_code == 200 and r.json()["review_state"] == "rejected" and r.json()["reviewed_by"] == "staff"
    r = api.post(f"/api/v1/products/{ring.pk}/tags/", {"tag": "metal:silver"}, content_type="application/json", **as_staff)
    assert r.status_code == 201 and r.json()["source"] == "person" and r.json()["review_state"] == "accepted"
    typ = ProductTag.objects.get(product_id=str(ring.pk), tag__facet="type")
    assert api.post(f"/api/v1/product-tags/{typ.pk}/accept/", **as_staff).json()["review_state"] == "accepted"
    listed = api.get(f"/api/v1/products/{ring.pk}/tags/", **as_staff).json()
    assert {(t["facet"], t["value"], t["review_state"]) for t in listed} == {
        ("metal", "gold", "rejected"), ("metal", "silver", "accepted"), ("type", "ring", "accepted")}
    # Shoppers see the decision, and the index filters by it.
    product = api.get(f"/api/v1/products/{ring.pk}/").json()
    assert {"facet": "metal", "value": "silver", "confidence": 1.0} in product["tags"]
    assert [p["id"] for p in api.get("/api/v1/products/", {"metal": "gold"}).json()["results"]] == []
    assert_error(api.post(f"/api/v1/products/{ring.pk}/tags/", {"tag": "no-colon"}, content_type="application/json", **as_staff), 400)
    assert_error(api.post("/api/v1/product-tags/999999/accept/", **as_staff), 404)


def test_session_auth_writes_need_csrf(catalog, staff):
    from django.test import Client

    from jewel_vision.models import ProductTag

    ring = catalog("ring", "gold", 1)
    tag = ProductTag.objects.get(product_id=str(ring.pk), tag__facet="type")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    assert_error(browser.post(f"/api/v1/product-tags/{tag.pk}/accept/"), 403)


def test_throttling_answers_429_in_the_same_shape(api, settings, jv_env):
    settings.JEWEL_VISION = {**jv_env, "API_THROTTLE_RATES": {**jv_env["API_THROTTLE_RATES"], "photo_search": "2/min"}}
    for _ in range(2):
        assert upload(api, b"not an image").status_code == 400
    r = upload(api, b"not an image")
    assert_error(r, 429, "throttled")
    assert int(r["Retry-After"]) > 0


def test_schema_is_valid_and_docs_are_served(api, jv_env):
    import yaml
    from django.core.management import call_command
    from drf_spectacular.validation import validate_schema

    r = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    schema = r.json()
    validate_schema(schema)
    paths = set(schema["paths"])
    assert {
        "/api/v1/products/", "/api/v1/products/{id}/", "/api/v1/products/{id}/similar/",
        "/api/v1/products/{id}/complete-the-look/", "/api/v1/recommendations/", "/api/v1/search/photo/",
        "/api/v1/images/{image_id}/analysis/", "/api/v1/product-tags/{tag_id}/accept/",
        "/api/v1/product-tags/{tag_id}/reject/", "/api/v1/products/{id}/tags/", "/api/v1/search/", "/api/v1/facets/",
    } <= paths
    assert "multipart/form-data" in schema["paths"]["/api/v1/search/photo/"]["post"]["requestBody"]["content"]
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
    # No generator warnings either.
    import io as _io

    out = _io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--urlconf", "shop.urls", stdout=out, stderr=out)
    assert yaml.safe_load(out.getvalue())["openapi"].startswith("3.")
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content


def test_a_tag_below_its_label_threshold_is_for_review_only(api, jv_env, make_product, staff, settings):
    from jewel_vision.models import ProductTag
    from jewel_vision.vision.types import TagPrediction
    from tests.analysis.test_store import _store

    settings.JEWEL_VISION = {**jv_env, "DISPLAY_THRESHOLD": 0.6}
    ring = make_product()
    analysis = _store(ring, [TagPrediction("type", "ring", 0.8, "type-head", "3", 0.9),
                             TagPrediction("colour", "red", 0.7, "colours", "1")])
    as_staff = {"HTTP_AUTHORIZATION": f"Token {token_for(staff)}"}
    listed = {t["facet"]: t for t in api.get(f"/api/v1/products/{ring.pk}/tags/", **as_staff).json()}
    assert (listed["type"]["threshold"], listed["type"]["review_state"], listed["type"]["visible"]) == (
        pytest.approx(0.9), "suggested", False)
    assert (listed["colour"]["threshold"], listed["colour"]["visible"]) == (None, True)  # DISPLAY_THRESHOLD
    shown = api.get(f"/api/v1/products/{ring.pk}/").json()["tags"]
    assert [(t["facet"], t["value"]) for t in shown] == [("colour", "red")]
    assert ids(api.get("/api/v1/products/", {"type": "ring"})) == []

    _store(ring, [TagPrediction("type", "ring", 0.95, "type-head", "3", 0.9)], analysis)
    listed = {t["facet"]: t for t in api.get(f"/api/v1/products/{ring.pk}/tags/", **as_staff).json()}
    assert listed["type"]["visible"] is True
    assert ids(api.get("/api/v1/products/", {"type": "ring"})) == [str(ring.pk)]

    # The shop's per-facet override wins over the model's threshold.
    settings.JEWEL_VISION = {**jv_env, "FACET_THRESHOLDS": {"type": 0.97}}
    assert api.get(f"/api/v1/products/{ring.pk}/tags/", **as_staff).json()[0]["visible"] is False
    assert ids(api.get("/api/v1/products/", {"type": "ring"})) == []
    typ = ProductTag.objects.get(product_id=str(ring.pk), tag__facet="type")
    assert api.post(f"/api/v1/product-tags/{typ.pk}/accept/", **as_staff).json()["visible"] is True
    assert ids(api.get("/api/v1/products/", {"type": "ring"})) == [str(ring.pk)]
    assert api.post(f"/api/v1/product-tags/{typ.pk}/reject/", **as_staff).json()["visible"] is False
    assert ids(api.get("/api/v1/products/", {"type": "ring"})) == []
