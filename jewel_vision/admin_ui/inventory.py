"""The inventory at ``/admin/jewel_vision/inventory/``.

Products, stock units and stock value by type x metal tone x stone x style, each row a
link to the shop's product list filtered to it; tagging coverage (untagged, pending,
failed, suggestions only), also links; the confidence of the tags per facet; analyses
per day and their failure rate. Charts by Chart.js, served from the app's static files.
Every table is also CSV: ``?format=csv&table=crosstab|coverage|confidence|daily`` (computed
afresh). The page's figures are cached for :data:`CACHE_SECONDS` (``?refresh=1``: now).
Needs the view permissions of the shop's product model, of product tags and of analyses.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.core.cache import cache
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils import numberformat
from django.utils.formats import get_format
from django.utils.safestring import mark_safe

from jewel_vision.admin_ui.common import (
    PageAdmin,
    csv_response,
    page_context,
    product_changelist_url,
    product_view_perm,
    require,
)
from jewel_vision.admin_ui import tray
from jewel_vision.models import Inventory
from jewel_vision.registry import get_product_model
from jewel_vision.services import catalogue, inventory

PERMS = ("jewel_vision.view_producttag", "jewel_vision.view_analysis")
#: The figures are recomputed at most this often (seconds); ``?refresh=1`` recomputes them now.
CACHE_SECONDS = 30
#: Rows of the table by type x metal tone x stone x style shown on the page (the CSV has all).
CROSSTAB_ROWS = 300


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _number_format() -> Callable[..., str]:
    """``localize`` of numbers, the locale's separators read once (not once a cell: 900 cells a page)."""
    separators = {k: get_format(k) for k in ("DECIMAL_SEPARATOR", "NUMBER_GROUPING", "THOUSAND_SEPARATOR")}

    def fmt(value, decimals: int | None = None) -> str:
        return numberformat.format(value, separators["DECIMAL_SEPARATOR"], decimals, separators["NUMBER_GROUPING"],
                                   separators["THOUSAND_SEPARATOR"], use_l10n=True)

    return fmt


def _crosstab_row(row: dict, fmt: Callable[..., str]) -> str:
    """One ``<tr>`` of the table by type x metal tone x stone x style.

    Built here rather than in the template: the same markup and number formats
    (``default:"—"``, ``localize``, ``floatformat:2`` of a value in whole cents), at a
    fraction of the cost of the template loop over 300 rows x 7 cells.
    """
    cells = "".join(f"<td>{html.escape(str(v or '—'))}</td>" for v in row["cells"])
    count = html.escape(fmt(row["products"]))
    link = f'<a href="{html.escape(row["url"])}">{count}</a>' if row["url"] else count
    return mark_safe(f"<tr>{cells}\n      <td>{link}</td><td>{html.escape(fmt(row['units']))}</td>"
                     f"<td>{html.escape(fmt(row['value'], 2))}</td></tr>\n    ")


class InventoryAdmin(PageAdmin):
    page_view_name = "inventory_view"

    def view_perms(self):
        return (*PERMS, product_view_perm())

    def get_urls(self):
        return self.page_urls() + [
            path("tray/", self.admin_site.admin_view(self.tray_view), name="jewel_vision_inventory_tray"),
        ]

    def tray_view(self, request):
        require(request, *self.view_perms())
        return tray.tray_view(self, request)

    def inventory_view(self, request):
        require(request, *PERMS, product_view_perm())
        table = request.GET.get("table", "crosstab")
        as_csv = request.GET.get("format") == "csv"
        if as_csv:
            return self.csv(table)
        facets = inventory.CROSSTAB_FACETS
        products_url = product_changelist_url()
        figures = self.figures(refresh=request.GET.get("refresh") == "1")
        rows = [dict(r) for r in figures["crosstab"]]
        fmt = _number_format()
        for row in rows[:CROSSTAB_ROWS]:
            query = {f"jv_{f}": row[f] or catalogue.NONE for f in facets}
            row["url"] = f"{products_url}?{urlencode(query)}" if products_url else ""
            row["cells"] = [row[f] for f in facets]
            row["html"] = _crosstab_row(row, fmt)
        coverage = [
            {"state": state, "label": label, "products": n,
             "url": f"{products_url}?{urlencode({'jv_state': state})}" if products_url else ""}
            for state, label, n in figures["coverage"]
        ]
        histogram, daily = figures["confidence"], figures["daily"]
        context = page_context(
            self, request, "Inventory",
            facets=facets, rows=rows[:CROSSTAB_ROWS], more_rows=max(0, len(rows) - CROSSTAB_ROWS),
            total_products=figures["products"], computed_at=figures["at"], cache_seconds=CACHE_SECONDS,
            total_units=sum(r["units"] for r in rows), total_value=_money(sum((r["value"] for r in rows), Decimal(0))),
            coverage=coverage, histogram=histogram, daily=daily,
            chart_data={
                "confidence": {"labels": [f"{k / inventory.BINS:.1f}" for k in range(inventory.BINS)], "facets": histogram},
                "daily": daily,
            },
            products_url=products_url,
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/jewel_vision/inventory.html", context)

    @staticmethod
    def figures(refresh: bool = False) -> dict:
        """Every table of the page, cached for :data:`CACHE_SECONDS` (the CSV exports read them fresh)."""
        key = "jewel_vision:inventory:" + get_product_model()._meta.label_lower
        cached = None if refresh else cache.get(key)
        if cached is None:
            cached = {
                "crosstab": inventory.crosstab(), "coverage": catalogue.coverage(),
                "confidence": inventory.confidence_histogram(), "daily": inventory.daily_analyses(),
                "products": get_product_model()._default_manager.count(), "at": timezone.now(),
            }
            cache.set(key, cached, CACHE_SECONDS)
        return cached

    def csv(self, table: str):
        facets = inventory.CROSSTAB_FACETS
        if table == "crosstab":
            rows = inventory.crosstab()
            return csv_response("inventory.csv", [*facets, "products", "stock_units", "stock_value"],
                                ([*[r[f] for f in facets], r["products"], r["units"], _money(r["value"])] for r in rows))
        if table == "coverage":
            return csv_response("tagging-coverage.csv", ["state", "label", "products"], catalogue.coverage())
        if table == "confidence":
            labels = [f"{k / inventory.BINS:.1f}-{(k + 1) / inventory.BINS:.1f}" for k in range(inventory.BINS)]
            return csv_response("tag-confidence.csv", ["facet", *labels],
                                ([facet, *counts] for facet, counts in inventory.confidence_histogram().items()))
        if table == "daily":
            return csv_response("analyses-per-day.csv", ["day", "done", "failed", "failure_rate"],
                                ([d["day"], d["done"], d["failed"], d["failure_rate"]] for d in inventory.daily_analyses()))
        raise Http404("no such table")


admin.site.register(Inventory, InventoryAdmin)
