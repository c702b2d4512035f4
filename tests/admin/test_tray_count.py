"""Tray count: the pieces the detector finds on a tray photo, by type, against the stock on record."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jewel_vision.services import similarity
from jewel_vision.vision.types import AnalysisResult, Detection, Embedding
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db

URL = "/admin/jewel_vision/inventory/tray/"


@pytest.fixture
def tray_photo():
    from PIL import Image

    canvas = Image.new("RGB", (900, 300), "white")
    for k, kind in enumerate(["ring", "ring", "earring"]):
        canvas.paste(Image.open(io.BytesIO(photo_bytes(kind=kind, seed=k))).resize((280, 280)), (10 + 300 * k, 10))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG")
    return SimpleUploadedFile("tray.jpg", buf.getvalue(), content_type="image/jpeg")


@pytest.fixture
def detector(monkeypatch):
    """The detector's answer for the tray, pinned (the detector itself is scored in its card)."""
    boxes = [("ring", (0.01, 0.03, 0.32, 0.96)), ("ring", (0.34, 0.03, 0.65, 0.96)),
             ("earring", (0.67, 0.03, 0.98, 0.96))]
    result = AnalysisResult(
        tags=[], regions=[], texts=[], timings_ms={}, model_versions={}, width=900, height=300,
        detections=[Detection(label, box, 0.9, "jewelry-detector", "1") for label, box in boxes]
        + [Detection("diamond", (0.1, 0.1, 0.12, 0.12), 0.8, "stone-rules", "1")],
        embedding=Embedding(np.ones(8, np.float32) / np.sqrt(8), "test", "1"),
    )
    seen = []
    monkeypatch.setattr(similarity, "analyse_photo", lambda image: seen.append(image.size) or result)
    return seen


def test_counts_by_type_against_stock(client, manager, catalog, tray_photo, detector):
    rings = [catalog("ring", "gold", 1, stock=3), catalog("ring", "silver", 2, stock=1)]
    earring = catalog("earring", "gold", 3, stock=2)
    catalog("necklace", "gold", 4, stock=9)  # not chosen
    client.force_login(manager)
    chosen = ",".join(str(p.pk) for p in [*rings, earring])
    answer = client.post(reverse("admin:shop_product_changelist"),
                         {"action": "jv_tray_count", "_selected_action": [p.pk for p in [*rings, earring]]})
    assert answer.status_code == 302 and set(answer.url.split("?ids=")[1].split(",")) == set(chosen.split(","))
    response = client.post(URL, {"ids": chosen, "photo": tray_photo})
    assert response.status_code == 200 and detector == [(900, 300)]
    rows = {r["type"]: (r["found"], r["stock"], r["products"], r["difference"]) for r in response.context["rows"]}
    assert rows == {"ring": (2, 4, 2, -2), "earring": (1, 2, 1, -1)}
    page = response.content.decode()
    assert page.count('class="jv-box"') == 3 and "data:image/jpeg;base64," in page


def test_by_type_and_permissions(client, staff, manager, catalog, tray_photo, detector):
    catalog("ring", "gold", 1, stock=5)
    catalog("earring", "gold", 3, stock=2)
    client.force_login(manager)
    rows = {r["type"]: r for r in client.post(URL, {"type": "ring", "photo": tray_photo}).context["rows"]}
    assert (rows["ring"]["found"], rows["ring"]["stock"]) == (2, 5) and rows["earring"]["stock"] == 0
    client.force_login(staff("shop.view_product", "jewel_vision.view_producttag"))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"type": "ring", "photo": tray_photo}).status_code == 403
