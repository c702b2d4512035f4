"""The public analysis endpoint shows shoppers what they may see; staff see the rest (issue 10, item 6)."""

from __future__ import annotations

import pytest

from jewel_vision.models import Analysis, ProductTag
from jewel_vision.vision.types import TagPrediction
from tests.api.conftest import token_for
from tests.analysis.test_store import _store

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed(settings, make_product):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "DISPLAY_THRESHOLD": 0.6}
    product = make_product()
    analysis = _store(product, [
        TagPrediction("type", "ring", 0.8, "type-head", "3", 0.9),  # below its own threshold: a suggestion
        TagPrediction("colour", "red", 0.7, "colours", "1"),  # shown (DISPLAY_THRESHOLD)
        TagPrediction("metal", "gold", 0.95, "metal", "1"),  # shown until staff reject it
        TagPrediction("stone", "ruby", 0.2, "stones", "1"),  # far below
    ])
    metal = ProductTag.objects.get(product_id=str(product.pk), tag__facet="metal")
    from jewel_vision.services import review

    review.reject(metal, None)
    return product, analysis


def _tags(body) -> set[tuple[str, str]]:
    return {(t["facet"], t["value"]) for t in body["tags"]}


def test_shoppers_see_only_the_tags_shown_to_shoppers(client, analysed):
    _, analysis = analysed
    body = client.get(f"/api/v1/images/{analysis.image_id}/analysis/").json()
    assert body["status"] == "done"
    assert _tags(body) == {("colour", "red")}
    assert body["predictions"] is None  # the raw model output is for staff


def test_shoppers_never_see_error_texts(client, analysed):
    _, analysis = analysed
    Analysis.objects.filter(pk=analysis.pk).update(
        status=Analysis.Status.FAILED, error="cannot identify image file '/srv/shop/media/products/2026/11/x.jpg'")
    body = client.get(f"/api/v1/images/{analysis.image_id}/analysis/").json()
    assert body["status"] == "failed"
    assert "/srv" not in body["error"] and "x.jpg" not in body["error"] and body["error"]
    assert body["tags"] == []  # a failed analysis shows nothing


def test_staff_see_every_prediction_and_the_error(client, django_user_model, analysed):
    from django.contrib.auth.models import Permission

    _, analysis = analysed
    staff = django_user_model.objects.create_user("analyst", password="pw-analyst-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="jewel_vision", codename="view_analysis"))
    auth = {"HTTP_AUTHORIZATION": f"Token {token_for(staff)}"}
    body = client.get(f"/api/v1/images/{analysis.image_id}/analysis/", **auth).json()
    raw = {(p["facet"], p["value"]): p for p in body["predictions"]}
    assert set(raw) == {("type", "ring"), ("colour", "red"), ("metal", "gold"), ("stone", "ruby")}
    assert raw[("type", "ring")]["threshold"] == pytest.approx(0.9)
    assert raw[("type", "ring")]["shown"] is False and raw[("metal", "gold")]["shown"] is False
    assert raw[("colour", "red")]["shown"] is True and raw[("type", "ring")]["model"] == "type-head"
    assert _tags(body) == {("colour", "red")}  # ``tags`` means the same for everyone
    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.FAILED, error="boom at /srv/x.jpg")
    assert client.get(f"/api/v1/images/{analysis.image_id}/analysis/", **auth).json()["error"] == "boom at /srv/x.jpg"
    # Staff without the permission are shoppers here.
    plain = django_user_model.objects.create_user("plain", password="pw-plain-123", is_staff=True)
    body = client.get(f"/api/v1/images/{analysis.image_id}/analysis/",
                      HTTP_AUTHORIZATION=f"Token {token_for(plain)}").json()
    assert body["predictions"] is None and "/srv" not in body["error"]
