"""Signal handlers: the shop's own saves and deletes start and undo Jewel Vision's work.

:func:`connect` is called by ``JewelVisionConfig.ready()``, and again when the
``JEWEL_VISION`` setting changes (``override_settings`` in tests), so each handler
is connected with the shop's configured model as its ``sender`` and runs for that
model's saves only.

* a saved product photo is analysed (``AUTO_ANALYZE``); a deleted one is forgotten;
* a deleted product loses its tags, locks and analyses;
* a saved product (price, stock) or a changed type/metal tag refreshes the product's
  rows in the vector index.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models.signals import post_delete, post_save

from jewel_vision.analysis.start import analyze, forget_image, forget_product
from jewel_vision.conf import jv_settings
from jewel_vision.index import sync
from jewel_vision.models import ProductTag
from jewel_vision.registry import get_image_model, get_product_model

logger = logging.getLogger(__name__)

#: Facets the vector index filters on: a change of one of these tags re-indexes the product.
INDEXED_FACETS = ("type", "metal", "metal_tone")


def image_saved(sender: type, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    """Analyse a saved product image, unless it is a fixture load."""
    if raw or not jv_settings.AUTO_ANALYZE:
        return
    analyze(instance)


def image_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    """Remove what a deleted photo alone supported."""
    forget_image(instance)


def product_saved(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """A product's price or stock may have changed: its index rows follow."""
    if raw:
        return
    sync.refresh_product(str(instance.pk), using=kwargs.get("using") or "default")


def product_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    """Remove a deleted product's tags, locks and analyses."""
    forget_product(instance)


def product_tag_changed(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """A type or metal tag changed: the product's index rows (which filter on them) follow."""
    if raw:
        return
    try:
        facet = instance.tag.facet
    except Exception:  # noqa: BLE001 - the tag itself is being deleted
        facet = "type"
    if facet in INDEXED_FACETS:
        sync.refresh_product(instance.product_id, using=kwargs.get("using") or "default")


_HANDLERS = (
    # (signal, handler, dispatch_uid, sender getter)
    (post_save, image_saved, "jewel_vision.image_saved", get_image_model),
    (post_delete, image_deleted, "jewel_vision.image_deleted", get_image_model),
    (post_save, product_saved, "jewel_vision.product_saved", get_product_model),
    (post_delete, product_deleted, "jewel_vision.product_deleted", get_product_model),
    (post_save, product_tag_changed, "jewel_vision.product_tag_saved", lambda: ProductTag),
    (post_delete, product_tag_changed, "jewel_vision.product_tag_deleted", lambda: ProductTag),
)


def disconnect() -> None:
    for signal, handler, uid, _sender in _HANDLERS:
        signal.disconnect(dispatch_uid=uid)


def connect() -> None:
    """(Re)connect every handler to the configured models; a missing model is left to the system checks."""
    disconnect()
    try:
        senders = {uid: sender() for _signal, _handler, uid, sender in _HANDLERS}
    except Exception as exc:  # noqa: BLE001 - ImproperlyConfigured, LookupError: reported as jewel_vision.E002
        logger.warning("Jewel Vision's signal handlers are not connected: %s", exc)
        return
    for signal, handler, uid, _sender in _HANDLERS:
        signal.connect(handler, sender=senders[uid], dispatch_uid=uid, weak=False)
