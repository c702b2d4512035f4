"""A person's decisions on product tags. Models never overwrite these."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from jewel_vision.aggregation import EXCLUSIVE_FACETS
from jewel_vision.models import ProductTag, Tag


def _decide(product_tag: ProductTag, state: str, user: Any) -> ProductTag:
    product_tag.review_state = state
    product_tag.reviewed_by = user if getattr(user, "pk", None) else None
    product_tag.reviewed_at = timezone.now()
    product_tag.save(update_fields=["review_state", "reviewed_by", "reviewed_at", "updated_at"])
    return product_tag


def accept(product_tag: ProductTag, user: Any = None) -> ProductTag:
    """Accept a tag. In a one-value facet (type, metal...) the competing model suggestions go."""
    with transaction.atomic():
        if product_tag.tag.facet in EXCLUSIVE_FACETS:
            ProductTag.objects.filter(
                product_type=product_tag.product_type,
                product_id=product_tag.product_id,
                tag__facet=product_tag.tag.facet,
                review_state=ProductTag.Review.SUGGESTED,
                source=ProductTag.Source.MODEL,
            ).exclude(pk=product_tag.pk).delete()
        return _decide(product_tag, ProductTag.Review.ACCEPTED, user)


def reject(product_tag: ProductTag, user: Any = None) -> ProductTag:
    return _decide(product_tag, ProductTag.Review.REJECTED, user)


def add(product: Any, label: str, user: Any = None) -> ProductTag:
    """A person tags a product, e.g. ``add(product, "style:vintage")``; it counts as accepted."""
    from django.contrib.contenttypes.models import ContentType

    facet, value = Tag.parse(label)
    tag, _ = Tag.objects.get_or_create(facet=facet, value=value)
    ctype = ContentType.objects.get_for_model(product)
    with transaction.atomic():
        product_tag, _ = ProductTag.objects.update_or_create(
            product_type=ctype,
            product_id=str(product.pk),
            tag=tag,
            defaults={
                "source": ProductTag.Source.PERSON,
                "source_detail": getattr(user, "get_username", lambda: "")()[:200],
                "confidence": 1.0,
            },
        )
        return accept(product_tag, user)
