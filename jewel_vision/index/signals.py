"""Index sync on the shop's own saves: a product's price or stock, a product's tags.

Connected when ``jewel_vision.index.models`` is imported (at app loading),
without a sender and filtered here, like ``jewel_vision.signals``.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save


def product_saved(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    from jewel_vision.conf import get_product_model

    if sender is not get_product_model():
        return
    from jewel_vision.index import sync

    sync.refresh_product(str(instance.pk), using=kwargs.get("using") or "default")


def product_tag_changed(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    from jewel_vision.models import ProductTag

    if sender is not ProductTag:
        return
    try:
        facet = instance.tag.facet
    except Exception:  # noqa: BLE001 - the tag itself is being deleted
        facet = "type"
    if facet not in ("type", "metal", "metal_tone"):
        return
    from jewel_vision.index import sync

    sync.refresh_product(instance.product_id, using=kwargs.get("using") or "default")


def connect() -> None:
    post_save.connect(product_saved, dispatch_uid="jewel_vision.index.product_saved")
    post_save.connect(product_tag_changed, dispatch_uid="jewel_vision.index.product_tag_saved")
    post_delete.connect(product_tag_changed, dispatch_uid="jewel_vision.index.product_tag_deleted")
