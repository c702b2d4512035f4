"""The back office as a person uses it, in a real headless Chromium against a live server.

Log in; filter products by a facet; review tags with the keyboard; run a backfill of a
clean catalogue on a real worker and watch its progress to the end; open the inventory
and export its CSV.
"""

from __future__ import annotations

import csv
import io

import pytest

from jewel_vision.models import Analysis, BackfillRun, ProductTag
from tests.admin.conftest import ALL_PERMS, manager, staff  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-staff-123"


def log_in(page, user):
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def listed_names(page) -> list[str]:
    return page.locator("#result_list tbody th a").all_inner_texts()


def test_log_in_and_filter_products_by_a_facet(page, manager, catalog):
    ring = catalog("ring", "gold", 1, name="Gold band", tags={"type": "ring", "metal": "gold"})
    catalog("earring", "silver", 2, name="Silver studs", tags={"type": "earring", "metal": "silver"})
    log_in(page, manager)
    # The admin index lists the back office beside the app's other models.
    assert page.locator("#content-main a[href='/admin/jewel_vision/review/']", has_text="Review queue").count() == 1
    assert page.locator("#content-main a[href='/admin/jewel_vision/inventory/']", has_text="Inventory").count() == 1
    page.locator("#content-main a[href='/admin/shop/product/']").first.click()
    page.wait_for_url("**/admin/shop/product/")
    assert sorted(n.split(" ")[0] for n in listed_names(page)) == ["Gold", "Silver"]
    assert page.locator("[data-tag='type:ring']").count() == 1
    page.locator("#changelist-filter details", has_text="By type").get_by_role("link", name="ring", exact=True).click()
    page.wait_for_url("**jv_type=ring**")
    assert listed_names(page) == [ring.name]
    # The product's page: its tags and the photo with its boxes and masks, each switched off and on.
    page.click("#result_list tbody th a")
    panel = page.locator("[data-jv-photos]")
    panel.wait_for()
    page.uncheck("[data-jv-toggle=boxes]")
    assert "jv-hide-boxes" in panel.get_attribute("class")
    page.check("[data-jv-toggle=boxes]")
    assert "jv-hide-boxes" not in panel.get_attribute("class")


def test_review_tags_with_the_keyboard(page, manager, catalog):
    a = catalog("ring", "gold", 1, name="Band", tags={"type": "ring", "stone": "diamond", "style": "vintage"},
                confidence=0.3)
    b = catalog("ring", "gold", 2, name="Other", tags={"type": "ring", "metal": "gold"}, confidence=0.35)
    log_in(page, manager)
    page.goto("/admin/jewel_vision/review/")
    rows = page.locator("#jv-queue tbody tr[data-id]")
    assert rows.count() == 5
    order = rows.evaluate_all("rs => rs.map(r => r.dataset.tag)")
    assert page.locator("tr.jv-current").get_attribute("data-tag") == order[0]
    page.keyboard.press("a")
    page.locator("#jv-queue tbody tr[data-id]").nth(0).and_(page.locator(".jv-decided")).wait_for()
    assert page.locator("tr.jv-current").get_attribute("data-tag") == order[1]
    page.keyboard.press("r")
    rows.nth(1).and_(page.locator(".jv-decided")).wait_for()
    assert page.locator("tr.jv-current").get_attribute("data-tag") == order[2]
    page.keyboard.press("k")
    assert page.locator("tr.jv-current").get_attribute("data-tag") == order[1]
    page.keyboard.press("j")
    page.keyboard.press("c")
    page.keyboard.type("corrected")
    page.keyboard.press("Enter")
    rows.nth(2).and_(page.locator(".jv-decided")).wait_for()
    assert "corrected to" in rows.nth(2).locator(".jv-decision").inner_text()
    # Bulk: select the last two with x and accept them.
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.locator("[data-jv-selected]").inner_text() == "2 selected"
    page.click("[data-jv-bulk=accept]")
    rows.nth(4).and_(page.locator(".jv-decided")).wait_for()
    rows.nth(3).and_(page.locator(".jv-decided")).wait_for()
    # Who decided, and what, is stored.
    decided = {(pt.product_id, str(pt.tag)): (pt.review_state, pt.reviewed_by.username)
               for pt in ProductTag.objects.select_related("tag", "reviewed_by")}
    facet0, value0 = order[0].split(":")
    product0 = str(a.pk) if ProductTag.objects.filter(product_id=str(a.pk), tag__facet=facet0, tag__value=value0).exists() else str(b.pk)
    assert decided[(product0, order[0])] == ("accepted", "manager")
    assert sum(1 for s, _ in decided.values() if s == "accepted") == 4  # a, the correction, two in bulk
    assert sum(1 for s, _ in decided.values() if s == "rejected") == 2  # r, and the corrected tag
    assert all(user == "manager" for _, user in decided.values())
    corrected_facet = order[2].split(":")[0]
    assert ProductTag.objects.filter(tag__facet=corrected_facet, tag__value="corrected", source="person").count() == 1
    page.reload()
    assert page.locator("#jv-queue tbody tr[data-id]").count() == 0


@pytest.mark.integration
def test_backfill_a_clean_catalogue_and_watch_it_to_the_end(page, manager, settings, make_product, add_photo,
                                                            redis_broker, start_worker):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "AUTO_ANALYZE": False}
    images = [add_photo(make_product(f"Old {k}"), kind=k, seed=i) for i, k in enumerate(["ring", "earring", "bracelet"])]
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "AUTO_ANALYZE": True}
    assert not Analysis.objects.exists()
    worker = start_worker(redis_broker)
    log_in(page, manager)
    page.goto("/admin/jewel_vision/backfillrun/add/")
    page.select_option("#id_selection", "new")
    page.fill("#id_rate", "2")
    page.click("input[name=_save]")
    page.wait_for_url("**/progress/")
    seen = set()
    state = page.locator("[data-jv-state]")
    for _ in range(600):
        seen.add(page.locator("[data-jv-text]").inner_text())
        if state.inner_text() == "done":
            break
        page.wait_for_timeout(500)
    else:
        raise AssertionError(f"the backfill did not end; worker log:\n{worker.output()}")
    assert page.locator("[data-jv-bar]").evaluate("b => b.value") == 1
    assert "3 / 3 photos" in seen and len(seen) >= 2  # the bar moved while we watched
    summary = page.locator("[data-jv-summary]")
    assert summary.is_visible() and "done" in summary.inner_text()
    run = BackfillRun.objects.get()
    assert run.status == "done" and run.summary["done"] == 3 and run.started_by == manager
    assert Analysis.objects.filter(image_id__in=[str(i.pk) for i in images], status="done").count() == 3


def test_open_the_inventory_and_export_its_csv(page, manager, catalog):
    catalog("ring", "gold", 1, tags={"type": "ring", "metal_tone": "yellow"}, price="120.00", stock=2)
    catalog("earring", "silver", 2, tags={"type": "earring", "metal_tone": "white"}, price="40.00", stock=5)
    log_in(page, manager)
    page.locator("#content-main a[href='/admin/jewel_vision/inventory/']").first.click()
    assert page.locator("[data-jv-total=value]").inner_text() == "440.00"
    page.wait_for_function("window.jvCharts && window.jvCharts.confidence && window.jvCharts.daily")
    assert sorted(page.evaluate("window.jvCharts.confidence.data.datasets.map(d => d.label)")) == ["metal_tone", "type"]
    with page.expect_download() as download:
        page.locator("#jv-crosstab a.jv-csv").click()
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert rows[0] == ["type", "metal_tone", "stone", "style", "products", "stock_units", "stock_value"]
    assert ["ring", "yellow", "", "", "1", "2", "240.00"] in rows
    # Drill down from the table to the products of one row.
    page.locator("#jv-crosstab a", has_text="1").first.click()
    page.wait_for_url("**/admin/shop/product/?**")
    assert page.locator("#result_list tbody tr").count() == 1


def test_without_permissions_nothing_of_this(page, staff):
    user = staff("shop.view_product", name="clerk")
    log_in(page, user)
    assert page.locator("a[href='/admin/jewel_vision/review/']").count() == 0
    for url in ("/admin/jewel_vision/review/", "/admin/jewel_vision/inventory/", "/admin/jewel_vision/backfillrun/add/"):
        response = page.goto(url)
        assert response.status == 403, url


@pytest.mark.integration
def test_teach_a_facet_from_a_handful_of_labelled_products_and_see_it_applied(
    page, manager, catalog, settings, tmp_path, redis_broker, start_worker
):
    var = tmp_path / "var"
    settings.JEWEL_VISION = {**settings.JEWEL_VISION,
                             "PIPELINE": {**settings.JEWEL_VISION["PIPELINE"], "facet_heads_dir": str(var / "facet_heads")}}
    rings = [catalog("ring", "silver", s, name=f"Thin ring {s}", tags={"type": "ring"}) for s in (1, 2, 3)]
    necklaces = [catalog("necklace", "gold", s, name=f"Big necklace {s}", tags={"type": "necklace"}) for s in (4, 5, 6)]
    new_ring = catalog("ring", "silver", 7, name="New ring", tags={"type": "ring"})
    new_necklace = catalog("necklace", "gold", 8, name="New necklace", tags={"type": "necklace"})
    worker = start_worker(redis_broker, JEWEL_VISION_VAR_DIR=str(var))  # its facet_heads_dir is var/facet_heads too
    log_in(page, manager)
    page.goto("/admin/jewel_vision/review/")
    page.click("text=Label products for a facet you teach")
    page.fill("#jv-facet", "style")
    page.click("text=Open")
    for value in ("minimalist", "luxury"):
        page.fill("#jv-new-value", value)
        page.click("#jv-add-value")
        page.wait_for_load_state()
    # Values are numbered alphabetically: 1 luxury, 2 minimalist. Products in creation order.
    rows = page.locator("#jv-label tbody tr")
    for i, key in enumerate(["2", "2", "2", "1", "1", "1"]):
        page.keyboard.press(key)
        rows.nth(i).locator(".jv-label-value", has_text="minimalist" if key == "2" else "luxury").wait_for()
    assert ProductTag.objects.filter(tag__facet="style", review_state="accepted", source="person").count() == 6
    page.click("#jv-train-link")
    page.click("input[name=_save]")
    page.locator("[data-jv-head-status]", has_text="ready").wait_for(timeout=120_000)
    assert page.locator("[data-jv-accuracy]").inner_text() == "1.000"
    assert page.locator("#jv-confusion tr[data-value=luxury] td").first.inner_text() == "3"
    page.click("#jv-switch-on")
    page.wait_for_url("**/progress/")
    page.locator("[data-jv-state]", has_text="done").wait_for(timeout=400_000)
    run = BackfillRun.objects.get()
    assert run.summary["done"] == 8, worker.output()
    style = {pt.product_id: pt.tag.value for pt in ProductTag.objects.filter(tag__facet="style").select_related("tag")}
    assert style[str(new_ring.pk)] == "minimalist" and style[str(new_necklace.pk)] == "luxury"
    # People's labels are untouched by the model.
    for product, value in [(r, "minimalist") for r in rings] + [(n, "luxury") for n in necklaces]:
        tag = ProductTag.objects.get(product_id=str(product.pk), tag__facet="style")
        assert (tag.tag.value, tag.source, tag.review_state) == (value, "person", "accepted")
    page.goto(f"/admin/shop/product/{new_necklace.pk}/change/")
    assert page.locator("[data-tag='style:luxury']").count() == 1
