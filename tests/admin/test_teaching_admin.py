"""Teaching by example from the admin: label, train (as the worker does), look at the confusion,
switch on (a backfill re-tags the catalogue), roll back in one action; and the model versions page."""

from __future__ import annotations

from pathlib import Path

import pytest

from jewel_vision.analysis import heads
from jewel_vision.models import BackfillRun, ProductTag, TaughtHead

pytestmark = pytest.mark.django_db

LABEL = "/admin/jewel_vision/review/label/"


@pytest.fixture
def heads_folder(jv_env, settings, tmp_path, monkeypatch):
    import jewel_vision.analysis.start as start
    from celery import current_app

    folder = tmp_path / "facet_heads"
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PIPELINE": {**settings.JEWEL_VISION["PIPELINE"], "facet_heads_dir": str(folder)}}
    monkeypatch.setattr(start, "enqueue", lambda pk: True)
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: sent.append((name, args)))
    return folder


@pytest.fixture
def labelled(catalog, client, manager):
    """Three rings labelled minimalist and three necklaces labelled luxury, through the labelling page."""
    client.force_login(manager)
    products = {"minimalist": [catalog("ring", "silver", s, tags={"type": "ring"}) for s in (1, 2, 3)],
                "luxury": [catalog("necklace", "gold", s, tags={"type": "necklace"}) for s in (4, 5, 6)]}
    client.post(LABEL, {"facet": "style", "new_value": "minimalist"})
    client.post(LABEL, {"facet": "style", "new_value": "luxury"})
    for value, items in products.items():
        for product in items:
            answer = client.post(LABEL, {"facet": "style", "product": product.pk, "value": value})
            assert answer.status_code == 200 and answer.json()["tag"] == f"style:{value}"
    return products


def test_label_train_switch_on_and_roll_back(heads_folder, labelled, client, manager, django_capture_on_commit_callbacks):
    page = client.get(LABEL, {"facet": "style"})
    assert page.status_code == 200 and page.context["labelled"] == {"minimalist": 3, "luxury": 3}
    # Relabelling a product replaces its value (one value per product for teaching).
    ring = labelled["minimalist"][0]
    client.post(LABEL, {"facet": "style", "product": ring.pk, "value": "luxury"})
    client.post(LABEL, {"facet": "style", "product": ring.pk, "value": "minimalist"})
    accepted = ProductTag.objects.filter(product_id=str(ring.pk), tag__facet="style", review_state="accepted")
    assert list(accepted.values_list("tag__value", flat=True)) == ["minimalist"]

    client.post("/admin/jewel_vision/taughthead/add/", {"facet": "style"})
    head = TaughtHead.objects.get()
    assert head.status == "training" and head.created_by == manager
    head = heads.train(head.pk)  # what the worker's task runs
    assert head.status == "ready", head.error
    assert head.report["cv_confusion"] == [[3, 0], [0, 3]] and head.report["cv_accuracy"] == 1.0
    assert Path(head.path).exists() and not (heads_folder / "style.npz").exists()
    page = client.get(f"/admin/jewel_vision/taughthead/{head.pk}/change/").content.decode()
    assert 'data-jv-accuracy>1.000' in page and 'id="jv-switch-on"' in page

    before = heads.backfill.pipeline_version()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/jewel_vision/taughthead/{head.pk}/switch/", {"do": "on"})
    run = BackfillRun.objects.get()
    assert response.url == f"/admin/jewel_vision/backfillrun/{run.pk}/progress/"
    assert (heads_folder / "style.npz").read_bytes() == Path(head.path).read_bytes()
    assert run.selection == "outdated" and run.pipeline_version != before and run.total == 6
    head.refresh_from_db()
    assert head.status == "active" and head.activated_by == manager and head.backfill == run

    # A second head, switched on, then rolled back in one action to the first.
    second = heads.train(heads.start_training("style", manager).pk)
    heads.activate(second, manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/jewel_vision/taughthead/{second.pk}/switch/", {"do": "back"})
    head.refresh_from_db()
    second.refresh_from_db()
    assert (head.status, second.status) == ("active", "retired")
    assert (heads_folder / "style.npz").read_bytes() == Path(head.path).read_bytes()
    # Rolling back the first one: no style head any more.
    heads.roll_back("style", manager)
    assert not (heads_folder / "style.npz").exists()


def test_too_few_labels_fail_with_the_reason(heads_folder, catalog, manager):
    product = catalog("ring", "gold", 1)
    heads.label(str(product.pk), "style", "vintage", manager)
    head = heads.train(heads.start_training("style", manager).pk)
    assert head.status == "failed" and "at least 3 analysed products" in head.error


def test_permissions(heads_folder, catalog, client, staff):
    product = catalog("ring", "gold", 1)
    viewer = staff("jewel_vision.view_producttag", "jewel_vision.view_taughthead")
    client.force_login(viewer)
    assert client.get(LABEL, {"facet": "style"}).status_code == 200
    assert client.post(LABEL, {"facet": "style", "product": product.pk, "value": "vintage"}).status_code == 403
    assert client.post(LABEL, {"facet": "style", "new_value": "vintage"}).status_code == 403
    assert client.get("/admin/jewel_vision/taughthead/add/").status_code == 403
    head = TaughtHead.objects.create(facet="style", status="ready", path="x.npz")
    assert client.post(f"/admin/jewel_vision/taughthead/{head.pk}/switch/", {"do": "on"}).status_code == 403
    assert not ProductTag.objects.filter(tag__facet="style").exists() and not BackfillRun.objects.exists()
    client.force_login(staff())
    assert client.get(LABEL).status_code == 403
    assert client.get("/admin/jewel_vision/modelversion/").status_code == 403


def test_model_versions_page(heads_folder, catalog, client, manager):
    catalog("ring", "gold", 1)
    client.force_login(manager)
    response = client.get("/admin/jewel_vision/modelversion/")
    assert response.status_code == 200
    stages = dict(response.context["models"])
    assert {"embedder", "type"} <= set(stages)
    assert response.context["made"][0]["source_detail"]  # the version behind the catalogue's tags
    assert "MODEL_CARD" in {c["name"] for c in response.context["cards"]}


def test_the_type_head_is_adapted_switched_on_and_rolled_back(heads_folder, catalog, client, manager,
                                                              django_capture_on_commit_callbacks):
    """type is built in, but the shop may adapt it to the types staff accepted or corrected."""
    for kind, seeds in (("ring", (1, 2, 3)), ("necklace", (4, 5, 6))):
        for seed, metal in zip(seeds, ("gold", "silver", "gold")):  # not all one photo (near-duplicates join)
            heads.label(str(catalog(kind, metal, seed).pk), "type", kind, manager)
    client.force_login(manager)
    assert client.post("/admin/jewel_vision/taughthead/add/", {"facet": "metal_tone"}).status_code == 200  # refused
    client.post("/admin/jewel_vision/taughthead/add/", {"facet": "type"})
    head = heads.train(TaughtHead.objects.get(facet="type").pk)
    assert head.status == "ready", head.error
    assert head.report["adapted_from"].startswith("type@") and head.report["images"] == 6
    assert 0.0 <= head.report["cv_accuracy_builtin"] <= 1.0 and head.report["classes"] == ["necklace", "ring"]
    page = client.get(f"/admin/jewel_vision/taughthead/{head.pk}/change/").content.decode()
    assert "data-jv-accuracy-builtin>" in page and head.report["adapted_from"] in page
    start = page.index('<table id="jv-confusion">')
    header = page[start:page.index("</thead>", start)]
    assert header.count("<th>") == 1 + len(head.report["cv_confusion_columns"]) + 2  # every type the head can say
    assert all(len(row) == len(head.report["cv_confusion_columns"]) for row in head.report["cv_confusion"])
    before = heads.backfill.pipeline_version()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/jewel_vision/taughthead/{head.pk}/switch/", {"do": "on"})
    assert (heads_folder / "type.npz").read_bytes() == Path(head.path).read_bytes()
    assert BackfillRun.objects.get().pipeline_version != before
    heads.roll_back("type", manager)
    assert not (heads_folder / "type.npz").exists() and heads.backfill.pipeline_version() == before
    assert not TaughtHead.objects.filter(facet="metal_tone").exists()
