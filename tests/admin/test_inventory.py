"""The inventory: figures by type x metal tone x stone x style, coverage, confidence, analyses per day, CSV."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlparse

import pytest

from jewel_vision.models import Analysis
from jewel_vision.services import inventory

pytestmark = pytest.mark.django_db

URL = "/admin/jewel_vision/inventory/"


@pytest.fixture
def shop(catalog, make_product):
    a = catalog("ring", "gold", 1, tags={"type": "ring", "metal_tone": "yellow", "stone": ["diamond", "pearl"]},
                price="100.00", stock=2)
    b = catalog("ring", "gold", 2, tags={"type": "ring", "metal_tone": "yellow", "stone": "diamond"}, price="50.00", stock=3)
    c = catalog("earring", "silver", 3, tags={"type": "earring", "metal_tone": "white"}, price="10.00", stock=1)
    d = catalog("necklace", "gold", 4, tags={"type": "necklace"}, confidence=0.2, price="999.00", stock=5)  # below threshold
    e = make_product("Untagged", price="5.00", stock=7)
    Analysis.objects.filter(product_id=str(c.pk)).update(status=Analysis.Status.FAILED)
    return a, b, c, d, e


def test_crosstab_counts_units_and_value(shop):
    rows = {(r["type"], r["metal_tone"], r["stone"], r["style"]): (r["products"], r["units"], r["value"])
            for r in inventory.crosstab()}
    assert rows == {
        ("ring", "yellow", "diamond", ""): (2, 5, 350),
        ("ring", "yellow", "pearl", ""): (1, 2, 200),
        ("earring", "white", "", ""): (1, 1, 10),
        ("", "", "", ""): (2, 12, 999 * 5 + 5 * 7),  # the necklace's only tag is below its threshold
    }


def test_page_links_drill_down_to_the_product_list(client, manager, shop):
    a, b, c, d, e = shop
    client.force_login(manager)
    response = client.get(URL)
    assert response.status_code == 200
    rows = {tuple(r["cells"]): r["url"] for r in response.context["rows"]}
    url = rows[("ring", "yellow", "diamond", "")]
    listed = client.get(url).context["cl"].result_list
    assert sorted(p.pk for p in listed) == sorted([a.pk, b.pk])
    assert parse_qs(urlparse(url).query)["jv_style"] == ["__none__"]
    coverage = {c_["state"]: c_ for c_ in response.context["coverage"]}
    assert {s: c_["products"] for s, c_ in coverage.items()} == {"untagged": 1, "pending": 0, "failed": 1, "suggestions": 4}
    assert [p.pk for p in client.get(coverage["untagged"]["url"]).context["cl"].result_list] == [e.pk]
    assert [p.pk for p in client.get(coverage["failed"]["url"]).context["cl"].result_list] == [c.pk]
    page = response.content.decode()
    assert "jewel_vision/vendor/chartjs/chart.umd.js" in page and "cdn" not in page.lower()


def test_confidence_and_daily(shop):
    histogram = inventory.confidence_histogram()
    assert histogram["type"][9] == 3 and histogram["type"][2] == 1  # 0.95 x 3, 0.2 x 1
    daily = inventory.daily_analyses()
    assert sum(d["done"] for d in daily) == 3 and sum(d["failed"] for d in daily) == 1
    assert daily[-1]["failure_rate"] == pytest.approx(1 / 4, abs=1e-4)


@pytest.mark.parametrize("table,header", [
    ("crosstab", ["type", "metal_tone", "stone", "style", "products", "stock_units", "stock_value"]),
    ("coverage", ["state", "label", "products"]),
    ("confidence", ["facet", "0.0-0.1"]),
    ("daily", ["day", "done", "failed", "failure_rate"]),
])
def test_every_table_as_csv(client, manager, shop, table, header):
    client.force_login(manager)
    response = client.get(URL, {"format": "csv", "table": table})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][: len(header)] == header and len(rows) > 1
    if table == "crosstab":
        assert ["ring", "yellow", "diamond", "", "2", "5", "350.00"] in rows


def test_needs_product_tag_and_analysis_view_permissions(client, staff, shop):
    for perms in [(), ("shop.view_product", "jewel_vision.view_producttag"),
                  ("jewel_vision.view_producttag", "jewel_vision.view_analysis")]:
        client.force_login(staff(*perms))
        assert client.get(URL).status_code == 403
        assert client.get(URL, {"format": "csv"}).status_code == 403
    client.force_login(staff("shop.view_product", "jewel_vision.view_producttag", "jewel_vision.view_analysis"))
    assert client.get(URL).status_code == 200
