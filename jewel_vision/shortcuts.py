"""The functions a shop's own code calls: analyse a photo, show tags, list similar items.

    from jewel_vision.shortcuts import analyze, analyze_now, similar_items, visible_tags
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from jewel_vision.analysis.run import run_analysis
from jewel_vision.analysis.start import analyze as _analyze
from jewel_vision.index.products import shopper_products
from jewel_vision.models import Analysis, ProductTag
from jewel_vision.registry import product_content_type
from jewel_vision.services.similarity import Card, similar_products

__all__ = ["analyze", "analyze_now", "similar_items", "visible_tags"]


def analyze(image: Any, *, force: bool = False) -> Analysis | None:
    """Analyse one instance of the configured image model in the background.

    For shops that set ``JEWEL_VISION['AUTO_ANALYZE'] = False`` and prefer an
    explicit call to signals. Returns the :class:`~jewel_vision.models.Analysis`
    (None when the photo has no file).
    """
    return _analyze(image, force=force)


def analyze_now(image: Any, *, force: bool = False) -> Analysis | None:
    """Analyse one photo (an instance of the image model) in this process, now.

    For a shell, a management command or a test: the tags are on the product when
    this returns, with no worker. Returns the :class:`~jewel_vision.models.Analysis`
    (``status`` done or failed), or None when the photo has no file. A photo whose
    content was already analysed by this pipeline is not analysed again unless
    ``force``. A worker that receives the same analysis later skips it.
    """
    analysis = _analyze(image, force=force)
    if analysis is None:
        return None
    if analysis.status != analysis.Status.DONE:
        run_analysis(analysis.pk)
        analysis.refresh_from_db()
    return analysis


def visible_tags(product: Any, *, for_shoppers: bool = True) -> QuerySet[ProductTag]:
    """The tags of ``product`` that shoppers see, as a ``ProductTag`` queryset (facet, then label).

    Each row has ``tag.facet``, ``tag.value``, ``confidence``, ``source``, ``review_state``.
    Shown means accepted by a person, or a model's tag at or above its display threshold
    (``ProductTag.is_visible``). With ``for_shoppers`` (the default) a product that
    ``JEWEL_VISION["SHOPPER_QUERYSET"]`` hides (a draft) has none.
    """
    rows = ProductTag.objects.filter(product_type=product_content_type(), product_id=str(product.pk))
    if for_shoppers and not shopper_products().filter(pk=product.pk).exists():
        return rows.none()
    return rows.filter(ProductTag.visible_q()).select_related("tag").order_by("tag__facet", "tag__value")


def similar_items(product: Any, limit: int = 8, *, in_stock_only: bool = True) -> list[Card]:
    """Products like ``product`` that shoppers may see, best first (what ``{% jewel_similar %}`` shows).

    A list of cards: ``card.product`` (your model instance), ``card.title``, ``card.price``,
    ``card.image_url``, ``card.similarity``, ``card.reason``.
    """
    return similar_products(product, int(limit), in_stock_only=in_stock_only)
