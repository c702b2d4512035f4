"""The product admin with JewelProductAdminMixin (the demo shop's): badges, filters, photo overlays, actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jewel_vision.models import BackfillRun, ProductTag
from jewel_vision.services import review
from jewel_vision.vision.types import (
    AnalysisResult,
    Detection,
    Embedding,
    Region,
    TagPrediction,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/shop/product/"


def test_change_list_badges_thumbnail_and_facet_filter(client, manager, catalog):
    ring = catalog("ring", "gold", 1, tags={"type": "ring", "metal": "gold"}, confidence=0.9)
    earring = catalog("earring", "silver", 2, tags={"type": "earring", "metal": "silver"}, confidence=0.9)
    client.force_login(manager)
    page = client.get(LIST).content.decode()
    assert 'class="jv-thumb"' in page and 'data-tag="type:ring"' in page and 'data-tag="type:earring"' in page
    assert "90%" in page and "jv-badge--suggested" in page
    filtered = client.get(LIST, {"jv_type": "ring"})
    assert [p.pk for p in filtered.context["cl"].result_list] == [ring.pk]
    assert [p.pk for p in client.get(LIST, {"jv_metal": "silver"}).context["cl"].result_list] == [earring.pk]
    assert client.get(LIST, {"jv_type": "pendant"}).context["cl"].result_count == 0


def test_state_filter(client, manager, catalog, make_product):
    tagged = catalog("ring", "gold", 1)
    bare = make_product("Never photographed")
    client.force_login(manager)

    def ids(state):
        return {p.pk for p in client.get(LIST, {"jv_state": state}).context["cl"].result_list}

    assert ids("untagged") == {bare.pk}
    assert ids("never") == {bare.pk}
    assert ids("suggestions") == {tagged.pk}
    review.accept(ProductTag.objects.get(product_id=str(tagged.pk), tag__facet="type"), manager)
    assert ids("suggestions") == set() and ids("reviewed") == {tagged.pk}


def _mask_png(size=(64, 64)) -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).ellipse((10, 10, 50, 50), fill=255)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_change_form_shows_photo_with_boxes_and_masks(client, manager, make_product, add_photo, jv_env):
    from jewel_vision.analysis.start import analyze
    from jewel_vision.analysis.store import store_result
    from tests.index.helpers import embed_photo

    product = make_product("Boxed ring")
    image = add_photo(product, kind="ring", seed=3)
    analysis = analyze(image)
    store_result(analysis.pk, AnalysisResult(
        tags=[TagPrediction("type", "ring", 0.8, "test-tagger", "1", None)],
        detections=[Detection("ring", (0.1, 0.2, 0.5, 0.6), 0.77, "jewelry-detector", "1")],
        regions=[Region("item", _mask_png(), 0.3, "jewelry-detector", "1")], texts=[],
        embedding=Embedding(embed_photo("ring", "gold", 3), "effnet-lite0", "imagenet"),
        timings_ms={}, model_versions={}, width=384, height=384,
    ))
    client.force_login(manager)
    page = client.get(reverse("admin:shop_product_change", args=[product.pk])).content.decode()
    assert 'data-tag="type:ring"' in page
    assert 'class="jv-box" data-label="ring" style="left:10.00%;top:20.00%;width:40.00%;height:40.00%"' in page
    assert 'class="jv-mask" data-label="item" src="data:image/png;base64,' in page
    assert 'data-jv-toggle="boxes"' in page and 'data-jv-toggle="masks"' in page


def test_actions_accept_all_and_clear_suggestions(client, manager, catalog):
    a = catalog("ring", "gold", 1, tags={"type": "ring", "metal": "gold", "stone": "diamond"})
    b = catalog("earring", "silver", 2, tags={"type": "earring", "metal": "silver"})
    client.force_login(manager)
    client.post(LIST, {"action": "jv_accept_suggestions", "_selected_action": [a.pk]})
    accepted = ProductTag.objects.filter(product_id=str(a.pk))
    assert set(accepted.values_list("review_state", flat=True)) == {"accepted"}
    assert set(accepted.values_list("reviewed_by__username", flat=True)) == {"manager"}
    client.post(LIST, {"action": "jv_clear_suggestions", "_selected_action": [a.pk, b.pk]})
    # b's suggestions are gone; a's people's decisions stay.
    assert not ProductTag.objects.filter(product_id=str(b.pk)).exists()
    assert ProductTag.objects.filter(product_id=str(a.pk)).count() == 3


def test_reanalyse_action_starts_a_backfill_of_the_selected_products(client, manager, catalog):
    a = catalog("ring", "gold", 1)
    catalog("earring", "silver", 2)
    client.force_login(manager)
    response = client.post(LIST, {"action": "jv_reanalyse", "_selected_action": [a.pk]})
    run = BackfillRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:jewel_vision_backfillrun_progress", args=[run.pk])
    assert run.selection == "products" and run.product_ids == [str(a.pk)] and run.total == 1


@pytest.mark.parametrize("missing", ["jewel_vision.view_producttag"])
def test_without_tag_permission_no_badges_filters_or_actions(client, staff, catalog, missing):
    catalog("ring", "gold", 1)
    user = staff("shop.view_product", "shop.change_product")
    client.force_login(user)
    response = client.get(LIST)
    page = response.content.decode()
    assert response.status_code == 200
    assert "jv-badge" not in page and "jv_type" not in page
    for action in ("jv_reanalyse", "jv_accept_suggestions", "jv_clear_suggestions"):
        assert f'value="{action}"' not in page


def test_each_action_needs_its_permission(client, staff, catalog):
    a = catalog("ring", "gold", 1)
    viewer = staff("shop.view_product", "shop.change_product", "jewel_vision.view_producttag")
    client.force_login(viewer)
    page = client.get(LIST).content.decode()
    for action in ("jv_reanalyse", "jv_accept_suggestions", "jv_clear_suggestions"):
        assert f'value="{action}"' not in page
        client.post(LIST, {"action": action, "_selected_action": [a.pk]})
    assert set(ProductTag.objects.filter(product_id=str(a.pk)).values_list("review_state", flat=True)) == {"suggested"}
    assert not BackfillRun.objects.exists()


def test_a_near_copy_of_another_products_photo_is_flagged_side_by_side(client, manager, catalog):
    original = catalog("ring", "gold", 21, name="Original")
    copy = catalog("ring", "gold", 21, name="Copy")  # the same picture, uploaded again for another product
    different = catalog("necklace", "silver", 22, name="Different")
    client.force_login(manager)
    page = client.get(reverse("admin:shop_product_change", args=[copy.pk])).content.decode()
    assert f'data-jv-near-copy="{original.pk}"' in page
    assert reverse("admin:shop_product_change", args=[original.pk]) in page and "jv-side-by-side" in page
    page = client.get(reverse("admin:shop_product_change", args=[different.pk])).content.decode()
    assert "data-jv-near-copy" not in page
