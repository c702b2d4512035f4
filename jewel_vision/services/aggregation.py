"""Product-level tags from the predictions on all of a product's photos.

Several views of one product vote: each tag's product confidence is the mean
of its confidence over the product's analysed photos (a photo that did not
predict it counts as 0). In facets where one value excludes the others
(a piece is one type), only the winning value is kept.

Each product tag also keeps the model's per-label confidence threshold (chosen
on validation data and stored with the model): the highest one among its
supporting predictions, None when none has one. Shoppers see a model tag at or
above it (see ``ProductTag.is_visible``).

A person's decision is final: tags a person added, accepted or rejected are
never changed by a model, and a facet with a person-accepted value in an
exclusive facet gets no competing model suggestion. Aggregation holds the
product's lock (:mod:`jewel_vision.services.locking`, which review takes too) from
before it reads the tags until its transaction ends, and its every write is
also conditional on the row still being an unreviewed model suggestion.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.services.locking import lock_product
from jewel_vision.registry import image_content_type, product_content_type
from jewel_vision.models import Analysis, Prediction, ProductTag

EXCLUSIVE_FACETS = frozenset({"type", "metal", "metal_tone", "purity"})

TagKey = tuple[str, str]


def vote(per_image: Iterable[Mapping[TagKey, float]], *, min_confidence: float = 0.0) -> dict[TagKey, float]:
    """Combine per-photo tag confidences into product confidences.

    >>> vote([{("type", "ring"): 0.9}, {("type", "ring"): 0.7, ("type", "pendant"): 0.3}])
    {('type', 'ring'): 0.8}
    """
    views = list(per_image)
    if not views:
        return {}
    totals: dict[TagKey, float] = defaultdict(float)
    for view in views:
        for key, confidence in view.items():
            totals[key] += float(confidence)
    means = {key: total / len(views) for key, total in totals.items()}
    best: dict[str, TagKey] = {}
    for key, confidence in means.items():
        facet = key[0]
        if facet in EXCLUSIVE_FACETS and (facet not in best or confidence > means[best[facet]]):
            best[facet] = key
    return {
        key: round(confidence, 6)
        for key, confidence in means.items()
        if confidence >= min_confidence and (key[0] not in EXCLUSIVE_FACETS or best[key[0]] == key)
    }


def aggregate_product(product_id: str) -> None:
    """Recompute the model tags of one product. Call inside a transaction."""
    ptype = product_content_type()
    lock_product(ptype, product_id)
    unreviewed = ProductTag.objects.filter(
        product_type=ptype, product_id=product_id, source=ProductTag.Source.MODEL,
        review_state=ProductTag.Review.SUGGESTED,
    )
    analyses = list(
        Analysis.objects.filter(
            image_type=image_content_type(), product_id=product_id, is_current=True, status=Analysis.Status.DONE
        ).only("pk")
    )
    per_analysis: dict[int, dict[TagKey, float]] = defaultdict(dict)
    sources: dict[TagKey, set[str]] = defaultdict(set)
    tag_ids: dict[TagKey, int] = {}
    supporters: dict[TagKey, list[int]] = defaultdict(list)
    thresholds: dict[TagKey, float] = {}
    for pred in Prediction.objects.filter(analysis__in=analyses).select_related("tag"):
        key = (pred.tag.facet, pred.tag.value)
        per_analysis[pred.analysis_id][key] = pred.confidence
        sources[key].add(f"{pred.model}@{pred.model_version}")
        tag_ids[key] = pred.tag_id
        supporters[key].append(pred.analysis_id)
        if pred.threshold is not None:
            thresholds[key] = max(pred.threshold, thresholds.get(key, pred.threshold))
    views = [per_analysis.get(a.pk, {}) for a in analyses]
    votes = vote(views, min_confidence=jv_settings.STORE_THRESHOLD)

    existing = {
        pt.tag_id: pt
        for pt in ProductTag.objects.filter(product_type=ptype, product_id=product_id).select_related("tag")
    }
    decided_facets = {
        pt.tag.facet
        for pt in existing.values()
        if pt.tag.facet in EXCLUSIVE_FACETS and pt.review_state == ProductTag.Review.ACCEPTED
    }
    kept: set[int] = set()
    for key, confidence in votes.items():
        tag_id = tag_ids[key]
        current = existing.get(tag_id)
        if current is not None and current.is_human_decision:
            current.analyses.set(supporters[key])
            kept.add(tag_id)
            continue
        if key[0] in decided_facets:
            continue
        detail = ", ".join(sorted(sources[key]))[:200]
        threshold = thresholds.get(key)
        if current is None:
            current = ProductTag.objects.create(
                product_type=ptype,
                product_id=product_id,
                tag_id=tag_id,
                confidence=confidence,
                threshold=threshold,
                source_detail=detail,
            )
        elif current.confidence != confidence or current.source_detail != detail or current.threshold != threshold:
            unreviewed.filter(pk=current.pk).update(
                confidence=confidence, source_detail=detail, threshold=threshold, updated_at=timezone.now()
            )
        current.analyses.set(supporters[key])
        kept.add(tag_id)
    stale = [
        pt.pk for tag_id, pt in existing.items() if tag_id not in kept and not pt.is_human_decision
    ]
    unreviewed.filter(pk__in=stale).delete()
