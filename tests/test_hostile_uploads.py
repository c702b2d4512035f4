"""Every hostile file through every upload path: decoded, or cleanly refused (issue 10, item 16).

The corpus is ``tests/hostile_corpus.py`` (the benchmark ``benchmarks/hostile_files.py``
measures the memory and time of decoding the same files). Each path must answer a
2xx with a decoded result or a clean 4xx / error message: never a 500, never a
traceback, and a file the worker could not decode never reaches the queue.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.hostile_corpus import EXPECTED, corpus
from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401

NAMES = sorted(EXPECTED)
# Shoppers' photos have a lower pixel limit (UPLOAD_MAX_PIXELS, 40 Mpx) than the worker's (60 Mpx).
SHOPPER_EXPECTED = {**EXPECTED, "bomb-7000x7000-zeros.png": False}


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return corpus()


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_api_search_by_photo(client, jv_env, files, name):
    r = client.post("/api/v1/search/photo/", {"image": SimpleUploadedFile(name, files[name])})
    assert r.status_code < 500, r.content[:500]
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    if SHOPPER_EXPECTED[name]:
        assert r.status_code == 200, body
        assert "results" in body and body["timings_ms"]["analyse"] > 0
    else:
        assert r.status_code in (400, 413), body
        assert body["error"]["message"] and "Traceback" not in body["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_shop_photo_search_view(client, jv_env, files, name):
    r = client.post("/search/photo/", {"image": SimpleUploadedFile(name, files[name])})
    assert r.status_code < 500
    html = r.content.decode()
    assert "Traceback" not in html
    if SHOPPER_EXPECTED[name]:
        assert r.status_code == 200 and "data:image/jpeg;base64," in html  # the decoded preview
    else:
        assert r.status_code in (400, 413)
        assert r.context["error"]


@pytest.fixture
def admin_client(client, django_user_model, jv_env):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_admin_product_image_upload(admin_client, make_product, files, name):
    from jewel_vision.models import Analysis
    from shop.models import ProductImage

    product = make_product()
    r = admin_client.post(
        "/admin/shop/productimage/add/",
        {"product": product.pk, "position": 0, "image": SimpleUploadedFile(name, files[name])},
    )
    assert r.status_code < 500
    if EXPECTED[name]:
        assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
        image = ProductImage.objects.get(product=product)
        assert Analysis.objects.filter(image_id=str(image.pk)).exists()
    else:
        assert r.status_code == 200  # the form again, with an error on the photo
        errors = r.context["adminform"].form.errors
        assert "image" in errors, errors
        assert not ProductImage.objects.filter(product=product).exists()
        assert not Analysis.objects.exists()  # the worker never sees it


@pytest.mark.django_db
def test_admin_product_inline_refuses_an_undecodable_photo(admin_client, make_product, files):
    from shop.models import ProductImage

    product = make_product()
    form = {
        "name": product.name, "sku": product.sku, "price": "10.00", "stock": 1,
        "images-TOTAL_FORMS": 1, "images-INITIAL_FORMS": 0, "images-MIN_NUM_FORMS": 0, "images-MAX_NUM_FORMS": 1000,
        "images-0-position": 0, "images-0-image": SimpleUploadedFile("truncated.jpg", files["truncated.jpg"]),
    }
    r = admin_client.get(f"/admin/shop/product/{product.pk}/change/")
    # Management forms of the other inlines (tags), as the page sends them.
    for formset in r.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        if prefix != "images":
            form.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0,
                         f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
    r = admin_client.post(f"/admin/shop/product/{product.pk}/change/", form)
    assert r.status_code == 200
    assert "This photo cannot be used" in r.content.decode()
    assert not ProductImage.objects.filter(product=product).exists()


def test_jewel_vision_tag_cli(tmp_path, files):
    paths = []
    for name in NAMES:
        path = tmp_path / name
        path.write_bytes(files[name])
        paths.append(str(path))
    cli = Path(sys.executable).with_name("jewel-vision")
    proc = subprocess.run([str(cli), "tag", "--json", *paths], capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 1, proc.stderr[-3000:]  # some files could not be read; none crashed it
    results = {Path(r["path"]).name: r for r in json.loads(proc.stdout)["results"]}
    assert sorted(results) == NAMES
    for name in NAMES:
        row = results[name]
        if EXPECTED[name]:
            assert row["ok"] is True and row["width"] > 0 and row["height"] > 0, (name, row)
        else:
            assert row["ok"] is False and row["error"], (name, row)
            assert f"error: {tmp_path / name}: " in proc.stderr
