"""What the back office's admin pages share: page context, permission checks, product links, CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import NoReverseMatch, path, reverse

from jewel_vision.registry import get_product_model


def require(request, *perms: str) -> None:
    """403 unless the user holds every one of Django's model permissions ``perms``."""
    if not all(request.user.has_perm(p) for p in perms):
        raise PermissionDenied


def product_view_perm() -> str:
    opts = get_product_model()._meta
    return f"{opts.app_label}.view_{opts.model_name}"


def product_changelist_url() -> str:
    """The shop's product list in the admin ('' when the shop did not register its product model)."""
    opts = get_product_model()._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return ""


def product_change_url(pk: Any) -> str:
    opts = get_product_model()._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
    except NoReverseMatch:
        return ""


def page_context(model_admin, request, title: str, **extra: Any) -> dict:
    """The context every admin page has (site header, sidebar, breadcrumbs to the app)."""
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "app_label": model_admin.model._meta.app_label,
        "title": title,
        **extra,
    }


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


class PageAdmin(admin.ModelAdmin):
    """The admin of a proxy model that is one page (review queue, inventory, model versions).

    ``view_perms()`` are the real models' permissions the page needs; it is listed in the
    admin index for those who hold them. Nothing is added, changed or deleted through
    the proxy itself.
    """

    page_view_name = "page_view"

    def view_perms(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _allowed(self, request) -> bool:
        return all(request.user.has_perm(p) for p in self.view_perms())

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def page_urls(self) -> list:
        """The page itself at the proxy's changelist URL, plus any of :meth:`extra_urls`."""
        info = self.model._meta.app_label, self.model._meta.model_name
        view = self.admin_site.admin_view(getattr(self, self.page_view_name))
        return [path("", view, name=f"{info[0]}_{info[1]}_changelist")]

    def get_urls(self):
        return self.page_urls()
