"""Storefront widgets.

    {% load jewel_vision %}
    {% jewel_similar product %}                 {# similar items, 8 by default #}
    {% jewel_similar product limit=4 title="You may also like" %}
    {% jewel_complete_the_look product %}
    {% jewel_recommendations %}                 {# from this visitor's browsing history #}

Each renders ``jewel_vision/widgets/cards.html`` (override it in your
templates folder to restyle) and nothing at all when there is nothing to show.
A failure in the index is logged and renders nothing: a widget never breaks a
product page.
"""

from __future__ import annotations

import logging

from django import template

from jewel_vision.conf import jv_settings
from jewel_vision.services.similarity import complete_the_look, similar_products
from jewel_vision.services.recommendations import recommend

register = template.Library()
logger = logging.getLogger("jewel_vision")


def _render(kind: str, title: str, fetch, context) -> dict:
    try:
        cards = fetch()
    except Exception:  # noqa: BLE001 - never break the page around the widget
        logger.exception("jewel_vision %s widget failed", kind)
        cards = []
    return {"cards": cards, "kind": kind, "title": title, "request": context.get("request"), "currency": jv_settings.CURRENCY}


@register.inclusion_tag("jewel_vision/widgets/cards.html", takes_context=True)
def jewel_similar(context, product, limit: int = 8, title: str = "Similar items", in_stock_only: bool = True):
    return _render("similar", title, lambda: similar_products(product, int(limit), in_stock_only=in_stock_only), context)


@register.inclusion_tag("jewel_vision/widgets/cards.html", takes_context=True)
def jewel_complete_the_look(context, product, limit: int = 6, title: str = "Complete the look", in_stock_only: bool = True):
    return _render(
        "complete-the-look", title, lambda: complete_the_look(product, int(limit), in_stock_only=in_stock_only), context
    )


@register.inclusion_tag("jewel_vision/widgets/cards.html", takes_context=True)
def jewel_recommendations(context, limit: int = 8, title: str = "Picked for you"):
    request = context.get("request")
    if request is None:
        return {"cards": [], "kind": "recommendations", "title": title}
    return _render("recommendations", title, lambda: recommend(request, int(limit)), context)


@register.simple_tag
def jewel_photo_search_url() -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("jewel_vision_api:photo-search")
    except NoReverseMatch:
        return ""
