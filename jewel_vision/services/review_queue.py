"""The review queue: the model's tags that need a person, with the photo crop each came from.

A tag needs a person while it is an unreviewed model suggestion. Each says why it is
there: its photos disagree (some of the product's analysed photos did not predict
it), it is below its display threshold (shoppers do not see it), or it has simply not
been reviewed. Tags below their threshold come first, lowest confidence first; the
disagreements have a view of their own (``reason="conflict"``), found with one GROUP BY
over the products with several photos, because ordering the whole queue by a per-tag
count would cost a subquery per tag (seconds at 50,000 tags). Decisions go through :mod:`jewel_vision.services.review`, which keeps
who decided and when, and which no model run overwrites; they are also the examples
facets are taught from (:mod:`jewel_vision.services.teaching`).

A page of the queue is read in a fixed number of queries whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    IntegerField,
    QuerySet,
    Value,
    When,
)

from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis, Prediction, ProductTag, StoredDetection
from jewel_vision.registry import (
    get_image_model,
    get_product_model,
    image_content_type,
    product_content_type,
)
from jewel_vision.services import review

REASONS = {"conflict": "photos disagree", "below": "below threshold", "unreviewed": "not reviewed"}


def _suggestions(facet: str = "") -> QuerySet:
    qs = ProductTag.objects.filter(
        product_type=product_content_type(), source=ProductTag.Source.MODEL, review_state=ProductTag.Review.SUGGESTED
    )
    return qs.filter(tag__facet=facet) if facet else qs


def _analysed_photos() -> QuerySet:
    """Current finished analyses of the shop's photos, grouped by product: ``product_id``, ``n``."""
    return (
        Analysis.objects.filter(image_type=image_content_type(), is_current=True, status=Analysis.Status.DONE)
        .order_by().values("product_id").annotate(n=Count("pk"))
    )


def conflicting_ids(facet: str = "") -> list[int]:
    """Suggestions that not every analysed photo of their product predicted (three queries).

    Only products with two analysed photos or more can disagree; their suggestions are
    counted with one GROUP BY, never one subquery per tag.
    """
    multi = _analysed_photos().filter(n__gte=2)
    photos = dict(multi.values_list("product_id", "n"))
    if not photos:
        return []
    rows = (
        _suggestions(facet).filter(product_id__in=multi.values("product_id"))
        .order_by().annotate(n_support=Count("analyses")).values_list("pk", "product_id", "n_support")
    )
    return [pk for pk, pid, n in rows if n < photos.get(pid, 0)]


def queue(reason: str = "", facet: str = "") -> QuerySet:
    """Unreviewed model suggestions, those below their display threshold first, lowest confidence first.

    ``reason``: only ``conflict`` (photos disagree) or ``below`` ones (default: all);
    ``facet``: one facet. Rows are annotated ``below`` (0/1); the page's rows get their
    photo counts and reasons from :func:`page_items`.
    """
    qs = _suggestions(facet).select_related("tag").annotate(
        below=Case(When(ProductTag.visible_q(), then=Value(0)), default=Value(1), output_field=IntegerField())
    )
    if reason == "conflict":
        qs = qs.filter(pk__in=conflicting_ids(facet))
    elif reason == "below":
        qs = qs.filter(below=1)
    return qs.order_by("-below", "confidence", "pk")


@dataclass
class QueueItem:
    """One row of the queue page: the tag, its product and the crop of the photo it came from."""

    product_tag: ProductTag
    product: Any
    reasons: list[str]
    image_url: str = ""
    crop_style: str = ""


def crop_style(box: tuple[float, float, float, float] | None, width: int | None, height: int | None, size: int = 96) -> str:
    """CSS background-size/position showing ``box`` (normalised corners) of a photo in a square of ``size`` px."""
    if not box or not width or not height:
        return "background-size: contain; background-position: center;"
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    # A square around the box, 10 % larger, inside the photo where it fits.
    side = min(max((x1 - x0) * width, (y1 - y0) * height) * 1.1, width, height)
    cw, ch = side / width, side / height
    cx = min(max((x0 + x1) / 2 - cw / 2, 0.0), 1.0 - cw)
    cy = min(max((y0 + y1) / 2 - ch / 2, 0.0), 1.0 - ch)
    pos_x = 0.0 if cw >= 1 else 100 * cx / (1 - cw)
    pos_y = 0.0 if ch >= 1 else 100 * cy / (1 - ch)
    return f"background-size: {100 / cw:.2f}% {100 / ch:.2f}%; background-position: {pos_x:.2f}% {pos_y:.2f}%;"


def _pick_box(detections: list[StoredDetection], facet: str, value: str) -> tuple | None:
    """The box a tag most likely came from: a detection of its value, else the best piece."""
    if not detections:
        return None
    stones = [d for d in detections if d.model == "stone-rules"]
    pieces = [d for d in detections if d.model != "stone-rules"] or detections
    pool = stones if facet == "stone" and stones else pieces
    same = [d for d in pool if d.label == value]
    best = max(same or pool, key=lambda d: d.score)
    return best.x0, best.y0, best.x1, best.y1


def page_items(product_tags: list[ProductTag]) -> list[QueueItem]:
    """Products, photos, photo counts and crops of one page of the queue, in seven queries."""
    if not product_tags:
        return []
    through = ProductTag.analyses.through
    support: dict[int, list[int]] = {}
    for pt_id, a_id in through.objects.filter(producttag_id__in=[pt.pk for pt in product_tags]).values_list(
        "producttag_id", "analysis_id"
    ):
        support.setdefault(pt_id, []).append(a_id)
    photos = dict(
        _analysed_photos().filter(product_id__in={pt.product_id for pt in product_tags}).values_list("product_id", "n")
    )
    for pt in product_tags:
        pt.n_support = len(support.get(pt.pk, []))
        pt.n_photos = photos.get(pt.product_id, 0)
        pt.conflict = int(pt.n_photos >= 2 and pt.n_support < pt.n_photos)
    analysis_ids = {a for ids in support.values() for a in ids}
    # The photo that predicted the tag most confidently is the one shown.
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for a_id, tag_id, confidence in Prediction.objects.filter(
        analysis_id__in=analysis_ids, tag_id__in={pt.tag_id for pt in product_tags}
    ).values_list("analysis_id", "tag_id", "confidence"):
        key = (a_id, tag_id)
        best[key] = max(best.get(key, (-1.0, 0)), (confidence, a_id))
    chosen: dict[int, int] = {}
    for pt in product_tags:
        candidates = [best[(a, pt.tag_id)] for a in support.get(pt.pk, []) if (a, pt.tag_id) in best]
        if candidates:
            chosen[pt.pk] = max(candidates)[1]
        elif support.get(pt.pk):
            chosen[pt.pk] = min(support[pt.pk])
    analyses = Analysis.objects.in_bulk(set(chosen.values()))
    detections: dict[int, list[StoredDetection]] = {}
    for d in StoredDetection.objects.filter(analysis_id__in=set(chosen.values())):
        detections.setdefault(d.analysis_id, []).append(d)
    image_model = get_image_model()
    images = image_model._default_manager.in_bulk([a.image_id for a in analyses.values()])
    images = {str(k): v for k, v in images.items()}
    products = get_product_model()._default_manager.in_bulk([pt.product_id for pt in product_tags])
    products = {str(k): v for k, v in products.items()}
    items = []
    for pt in product_tags:
        reasons = [r for r in ("conflict", "below") if getattr(pt, r, 0)] or ["unreviewed"]
        item = QueueItem(pt, products.get(pt.product_id), reasons)
        analysis = analyses.get(chosen.get(pt.pk))
        image = images.get(analysis.image_id) if analysis else None
        file = getattr(image, jv_settings.IMAGE_FIELD, None) if image else None
        if file:
            item.image_url = file.url
            box = _pick_box(detections.get(analysis.pk, []), pt.tag.facet, pt.tag.value)
            item.crop_style = crop_style(box, analysis.width, analysis.height)
        items.append(item)
    return items


def correct(product_tag: ProductTag, value: str, user: Any = None) -> ProductTag:
    """A person says the tag's value is wrong and gives the right one: the old one is rejected,
    ``facet:value`` added as theirs (accepted). The same value is simply accepted."""
    value = value.strip()
    if not value:
        raise ValueError("a correction needs a value")
    facet = product_tag.tag.facet
    if value == product_tag.tag.value:
        return review.accept(product_tag, user)
    product = get_product_model()._default_manager.get(pk=product_tag.product_id)
    with transaction.atomic():
        review.reject(product_tag, user)
        return review.add(product, f"{facet}:{value}", user)


def decide(product_tags: list[ProductTag], action: str, user: Any, value: str = "") -> list[ProductTag]:
    """Apply one decision (accept, reject, correct) to each tag; returns the tags as now stored."""
    out = []
    for pt in product_tags:
        if action == "accept":
            out.append(review.accept(pt, user))
        elif action == "reject":
            out.append(review.reject(pt, user))
        elif action == "correct":
            out.append(correct(pt, value, user))
        else:
            raise ValueError(f"unknown decision {action!r}")
    return out
