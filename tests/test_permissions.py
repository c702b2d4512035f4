"""Who may do what: Django's model permissions decide, in the API and in the admin (issue 10, item 5).

accept / reject: ``jewel_vision.change_producttag``; add: ``jewel_vision.add_producttag``;
list a product's tags for review: ``jewel_vision.view_producttag``; analyse again:
``jewel_vision.change_analysis``.
"""

from __future__ import annotations

import pytest

from jewel_vision.models import Analysis, ProductTag
from jewel_vision.vision.types import TagPrediction
from tests.api.conftest import token_for
from tests.api.test_products import assert_error
from tests.analysis.test_store import _store

pytestmark = pytest.mark.django_db


def _user(django_user_model, name: str, *perms: str, staff: bool = True):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(name, password=f"pw-{name}-123", is_staff=staff)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="jewel_vision", codename=codename))
    return django_user_model.objects.get(pk=user.pk)  # no stale permission cache


@pytest.fixture
def tagged(make_product):
    product = make_product()
    analysis = _store(product, [TagPrediction("type", "ring", 0.9, "type-head", "3"),
                                TagPrediction("metal", "gold", 0.9, "metal", "1")])
    return product, analysis


def _auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {token_for(user)}"}


def test_view_only_staff_cannot_decide_through_the_api(client, django_user_model, tagged):
    product, _ = tagged
    viewer = _user(django_user_model, "viewer", "view_producttag", "view_analysis")
    metal = ProductTag.objects.get(product_id=str(product.pk), tag__facet="metal")
    # Looking is allowed.
    assert client.get(f"/api/v1/products/{product.pk}/tags/", **_auth(viewer)).status_code == 200
    for action in ("reject", "accept"):
        err = assert_error(client.post(f"/api/v1/product-tags/{metal.pk}/{action}/", **_auth(viewer)), 403,
                           "permission_denied")
        assert "change_producttag" in err["message"]
    err = assert_error(client.post(f"/api/v1/products/{product.pk}/tags/", {"tag": "style:vintage"},
                                   content_type="application/json", **_auth(viewer)), 403, "permission_denied")
    assert "add_producttag" in err["message"]
    metal.refresh_from_db()
    assert metal.review_state == ProductTag.Review.SUGGESTED
    assert not ProductTag.objects.filter(product_id=str(product.pk), tag__facet="style").exists()
    # Staff without even the view permission cannot list the suggestions.
    nobody = _user(django_user_model, "nobody")
    assert_error(client.get(f"/api/v1/products/{product.pk}/tags/", **_auth(nobody)), 403)


def test_the_right_permission_allows_each_decision(client, django_user_model, tagged):
    product, _ = tagged
    reviewer = _user(django_user_model, "reviewer", "change_producttag")
    adder = _user(django_user_model, "adder", "add_producttag")
    metal = ProductTag.objects.get(product_id=str(product.pk), tag__facet="metal")
    typ = ProductTag.objects.get(product_id=str(product.pk), tag__facet="type")
    r = client.post(f"/api/v1/product-tags/{metal.pk}/reject/", **_auth(reviewer))
    assert r.status_code == 200 and r.json()["review_state"] == "rejected"
    assert client.post(f"/api/v1/product-tags/{typ.pk}/accept/", **_auth(reviewer)).json()["review_state"] == "accepted"
    # Changing is not adding, and adding is not changing.
    assert_error(client.post(f"/api/v1/products/{product.pk}/tags/", {"tag": "style:vintage"},
                             content_type="application/json", **_auth(reviewer)), 403)
    assert_error(client.post(f"/api/v1/product-tags/{typ.pk}/reject/", **_auth(adder)), 403)
    r = client.post(f"/api/v1/products/{product.pk}/tags/", {"tag": "style:vintage"},
                    content_type="application/json", **_auth(adder))
    assert r.status_code == 201 and r.json()["source"] == "person"
    # A superuser holds every permission; a customer none.
    admin = django_user_model.objects.create_superuser("root", password="pw-root-123")
    assert client.post(f"/api/v1/product-tags/{metal.pk}/accept/", **_auth(admin)).status_code == 200
    customer = _user(django_user_model, "customer", staff=False)
    assert_error(client.post(f"/api/v1/product-tags/{metal.pk}/reject/", **_auth(customer)), 403)


def _run_action(client, user, model: str, action: str, pk: int):
    client.force_login(user)
    return client.post(f"/admin/jewel_vision/{model}/", {"action": action, "_selected_action": [str(pk)]})


def test_view_only_staff_cannot_run_the_admin_actions(client, django_user_model, tagged, monkeypatch):
    import jewel_vision.admin as jv_admin

    product, analysis = tagged
    sent = []
    monkeypatch.setattr(jv_admin, "requeue", lambda ids: (sent.extend(ids) or len(ids), 0))
    viewer = _user(django_user_model, "viewer", "view_producttag", "view_analysis")
    metal = ProductTag.objects.get(product_id=str(product.pk), tag__facet="metal")
    client.force_login(viewer)
    page = client.get("/admin/jewel_vision/producttag/")
    assert page.status_code == 200
    assert b"reject_tags" not in page.content and b"accept_tags" not in page.content
    _run_action(client, viewer, "producttag", "reject_tags", metal.pk)
    _run_action(client, viewer, "producttag", "accept_tags", metal.pk)
    metal.refresh_from_db()
    assert metal.review_state == ProductTag.Review.SUGGESTED
    analysis.status = Analysis.Status.FAILED
    analysis.save()
    _run_action(client, viewer, "analysis", "requeue_selected", analysis.pk)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED and sent == []


def test_staff_with_the_permission_can_run_the_admin_actions(client, django_user_model, tagged, monkeypatch):
    import jewel_vision.admin as jv_admin

    product, analysis = tagged
    sent = []
    monkeypatch.setattr(jv_admin, "requeue", lambda ids: (sent.extend(ids) or len(ids), 0))
    reviewer = _user(django_user_model, "reviewer", "view_producttag", "change_producttag",
                     "view_analysis", "change_analysis")
    metal = ProductTag.objects.get(product_id=str(product.pk), tag__facet="metal")
    client.force_login(reviewer)
    assert b"reject_tags" in client.get("/admin/jewel_vision/producttag/").content
    r = _run_action(client, reviewer, "producttag", "reject_tags", metal.pk)
    assert r.status_code == 302
    metal.refresh_from_db()
    assert metal.review_state == ProductTag.Review.REJECTED and metal.reviewed_by == reviewer
    analysis.status = Analysis.Status.FAILED
    analysis.save()
    _run_action(client, reviewer, "analysis", "requeue_selected", analysis.pk)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.PENDING and sent == [analysis.pk]
