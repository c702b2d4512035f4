"""The review queue: what needs a person and why, decisions kept with who and when, permissions."""

from __future__ import annotations

import pytest

from jewel_vision.models import Analysis, Prediction, ProductTag
from jewel_vision.services import review_queue

pytestmark = pytest.mark.django_db

QUEUE = "/admin/jewel_vision/review/"
DECIDE = "/admin/jewel_vision/review/decide/"


def tag_of(product, facet):
    return ProductTag.objects.select_related("tag").get(product_id=str(product.pk), tag__facet=facet)


def test_queue_reasons_and_order(catalog):
    sure = catalog("ring", "gold", 1, tags={"type": "ring"}, confidence=0.95)
    unsure = catalog("ring", "gold", 2, tags={"type": "ring"}, confidence=0.3)
    # Two photos of one product, only one of which predicted the stone: the photos disagree.
    split = catalog("earring", "gold", 3, tags={"type": "earring", "stone": "pearl"}, photos=2, confidence=0.9)
    first, second = Analysis.objects.filter(product_id=str(split.pk)).order_by("pk")
    Prediction.objects.filter(analysis=second, tag__facet="stone").delete()
    tag_of(split, "stone").analyses.remove(second)
    rows = list(review_queue.queue())
    # Below their threshold first, lowest confidence first; then the others, lowest first.
    assert rows[0] == tag_of(unsure, "type") and rows[0].below == 1
    assert {pt.below for pt in rows[1:]} == {0}
    assert [pt.confidence for pt in rows[1:]] == sorted(pt.confidence for pt in rows[1:])
    items = {item.product_tag.pk: item for item in review_queue.page_items(rows)}
    stone = items[tag_of(split, "stone").pk]
    assert stone.reasons == ["conflict"] and (stone.product_tag.n_support, stone.product_tag.n_photos) == (1, 2)
    assert items[tag_of(split, "type").pk].reasons == ["unreviewed"]
    assert items[tag_of(unsure, "type").pk].reasons == ["below"]
    assert items[tag_of(sure, "type").pk].reasons == ["unreviewed"]
    assert stone.image_url.endswith(".jpg") and stone.product == split
    assert [pt.pk for pt in review_queue.queue("conflict")] == [tag_of(split, "stone").pk]
    assert [pt.pk for pt in review_queue.queue("below")] == [tag_of(unsure, "type").pk]
    assert [pt.tag.facet for pt in review_queue.queue(facet="stone")] == ["stone"]


def test_crop_style_shows_the_box_as_a_square():
    # A box in the middle of a 400 x 200 photo, 40 x 40 px: a 44 px square around it.
    style = review_queue.crop_style((0.45, 0.4, 0.55, 0.6), 400, 200)
    assert style == "background-size: 909.09% 454.55%; background-position: 50.00% 50.00%;"
    assert "contain" in review_queue.crop_style(None, 400, 200)


def test_decisions_through_the_page_keep_who_and_when(client, manager, catalog):
    a = catalog("ring", "gold", 1, tags={"type": "ring", "stone": "diamond", "style": "vintage"}, confidence=0.5)
    client.force_login(manager)
    page = client.get(QUEUE)
    assert page.status_code == 200 and page.context["paginator"].count == 3
    assert client.post(DECIDE, {"action": "accept", "id": [tag_of(a, "type").pk]}).json()["decisions"][0]["state"] == "accepted"
    client.post(DECIDE, {"action": "reject", "id": [tag_of(a, "stone").pk]})
    corrected = client.post(DECIDE, {"action": "correct", "id": [tag_of(a, "style").pk], "value": "minimalist"}).json()
    assert corrected["decisions"][0]["tag"] == "style:minimalist"
    states = {str(pt.tag): (pt.review_state, pt.source, pt.reviewed_by.username) for pt in
              ProductTag.objects.filter(product_id=str(a.pk)).select_related("tag", "reviewed_by")}
    assert states == {
        "type:ring": ("accepted", "model", "manager"),
        "stone:diamond": ("rejected", "model", "manager"),
        "style:vintage": ("rejected", "model", "manager"),
        "style:minimalist": ("accepted", "person", "manager"),
    }
    assert all(pt.reviewed_at for pt in ProductTag.objects.filter(product_id=str(a.pk)))
    assert client.get(QUEUE).context["paginator"].count == 0


def test_a_model_run_does_not_overwrite_a_decision_from_the_queue(client, manager, catalog):
    from jewel_vision.analysis.start import refresh_product_tags

    a = catalog("ring", "gold", 1, tags={"type": "ring"}, confidence=0.5)
    client.force_login(manager)
    client.post(DECIDE, {"action": "reject", "id": [tag_of(a, "type").pk]})
    refresh_product_tags(str(a.pk))  # the model's aggregation runs again
    assert tag_of(a, "type").review_state == "rejected"


def test_permissions(client, staff, catalog):
    a = catalog("ring", "gold", 1, tags={"type": "ring"}, confidence=0.5)
    pk = tag_of(a, "type").pk
    nobody = staff()
    client.force_login(nobody)
    assert client.get(QUEUE).status_code == 403
    viewer = staff("jewel_vision.view_producttag")
    client.force_login(viewer)
    page = client.get(QUEUE)
    assert page.status_code == 200 and "You may look but not decide" in page.content.decode()
    for action in ("accept", "reject"):
        assert client.post(DECIDE, {"action": action, "id": [pk]}).status_code == 403
    changer = staff("jewel_vision.view_producttag", "jewel_vision.change_producttag")
    client.force_login(changer)
    assert client.post(DECIDE, {"action": "correct", "id": [pk], "value": "brooch"}).status_code == 403
    assert tag_of(a, "type").review_state == "suggested"
    assert client.post(DECIDE, {"action": "accept", "id": [pk]}).status_code == 200
    assert tag_of(a, "type").review_state == "accepted"
