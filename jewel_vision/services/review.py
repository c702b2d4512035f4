"""A person's decisions on product tags. Models never overwrite these.

Every decision takes the product's lock (:mod:`jewel_vision.services.locking`), which
aggregation holds while it rewrites a product's model tags, and is written by
(product, tag), not by row: a decision on a suggestion the model withdrew in
the meantime re-creates it with the decision, so no decision is ever lost.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from jewel_vision.services.aggregation import EXCLUSIVE_FACETS
from jewel_vision.services.locking import lock_product
from jewel_vision.models import ProductTag, Tag


def _decide(product_tag: ProductTag, state: str, user: Any) -> ProductTag:
    """Record ``state`` on the product's tag; call holding the product's lock."""
    decision = {
        "review_state": state,
        "reviewed_by": user if getattr(user, "pk", None) else None,
        "reviewed_at": timezone.now(),
    }
    stored, created = ProductTag.objects.get_or_create(
        product_type_id=product_tag.product_type_id,
        product_id=product_tag.product_id,
        tag_id=product_tag.tag_id,
        defaults={
            **decision,
            "source": product_tag.source,
            "source_detail": product_tag.source_detail,
            "confidence": product_tag.confidence,
            "threshold": product_tag.threshold,
        },
    )
    if not created:
        for name, value in decision.items():
            setattr(stored, name, value)
        stored.save(update_fields=[*decision, "updated_at"])
    for name in ("pk", "review_state", "reviewed_by", "reviewed_at", "updated_at"):
        setattr(product_tag, name, getattr(stored, name))
    return product_tag


def reject(product_tag: ProductTag, user: Any = None) -> ProductTag:
    with transaction.atomic():
        lock_product(product_tag.product_type_id, product_tag.product_id)
        return _decide(product_tag, ProductTag.Review.REJECTED, user)


def accept(product_tag: ProductTag, user: Any = None) -> ProductTag:
    """Accept a tag. In a one-value facet (type, metal...) the competing model suggestions go."""
    with transaction.atomic():
        lock_product(product_tag.product_type_id, product_tag.product_id)
        if product_tag.tag.facet in EXCLUSIVE_FACETS:
            ProductTag.objects.filter(
                product_type=product_tag.product_type,
                product_id=product_tag.product_id,
                tag__facet=product_tag.tag.facet,
                review_state=ProductTag.Review.SUGGESTED,
                source=ProductTag.Source.MODEL,
            ).exclude(tag_id=product_tag.tag_id).delete()
        return _decide(product_tag, ProductTag.Review.ACCEPTED, user)


def add(product: Any, label: str, user: Any = None) -> ProductTag:
    """A person tags a product, e.g. ``add(product, "style:vintage")``; it counts as accepted."""
    from django.contrib.contenttypes.models import ContentType

    facet, value = Tag.parse(label)
    tag, _ = Tag.objects.get_or_create(facet=facet, value=value)
    ctype = ContentType.objects.get_for_model(product)
    with transaction.atomic():
        lock_product(ctype, str(product.pk))
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
