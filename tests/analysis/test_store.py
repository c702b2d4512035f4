"""Storing a pipeline result: per-label thresholds travel from the model to what shoppers see."""

import pytest

from jewel_vision.services import search
from jewel_vision.index.products import visible_tags
from jewel_vision.models import Analysis, Prediction, ProductTag
from jewel_vision.analysis.store import store_result
from jewel_vision.vision.types import AnalysisResult, TagPrediction

pytestmark = pytest.mark.django_db


def _store(product, tags: list[TagPrediction], analysis: Analysis | None = None) -> Analysis:
    """Store ``tags`` as the result of a new analysis of one photo of ``product`` (or again for ``analysis``)."""
    from jewel_vision.registry import image_content_type

    if analysis is None:
        analysis = Analysis.objects.create(
            image_type=image_content_type(), image_id=f"img-{product.pk}", product_id=str(product.pk),
            content_hash="0" * 64, pipeline_version="test",
        )
    result = AnalysisResult(
        tags=tags, detections=[], regions=[], texts=[], embedding=None,
        timings_ms={}, model_versions={}, width=384, height=384,
    )
    return store_result(analysis.pk, result)


def _ring(confidence: float, threshold: float | None) -> list[TagPrediction]:
    return [TagPrediction("type", "ring", confidence, "type-head", "3", threshold)]


def test_the_label_threshold_is_stored_and_decides_what_shoppers_see(make_product, settings):
    from shop.views import visible_tags as shop_visible_tags

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6}
    product = make_product()
    analysis = _store(product, _ring(0.8, 0.9))

    prediction = Prediction.objects.get(analysis=analysis)
    assert prediction.threshold == pytest.approx(0.9)
    tag = ProductTag.objects.select_related("tag").get(product_id=str(product.pk))
    assert (str(tag.tag), tag.review_state, tag.source) == ("type:ring", "suggested", "model")
    assert tag.confidence == pytest.approx(0.8) and tag.threshold == pytest.approx(0.9)
    # 0.8 clears DISPLAY_THRESHOLD but not the label's own 0.9: kept for review, hidden from shoppers.
    assert not tag.is_visible
    assert list(search.filter_products({"type": ["ring"]})) == []
    assert list(search.search_products("rings")[1]) == []
    assert "type" not in search.facet_counts()
    assert visible_tags([product.pk])[str(product.pk)].by_facet == {}
    assert list(shop_visible_tags(product)) == []

    # The model is surer about the same photo: shown everywhere.
    _store(product, _ring(0.95, 0.9), analysis)
    tag = ProductTag.objects.select_related("tag").get(product_id=str(product.pk))
    assert tag.confidence == pytest.approx(0.95) and tag.is_visible
    assert list(search.filter_products({"type": ["ring"]})) == [product]
    assert search.facet_counts()["type"] == [("ring", 1)]
    assert visible_tags([product.pk])[str(product.pk)].by_facet == {"type": [("ring", pytest.approx(0.95))]}
    assert list(shop_visible_tags(product)) == [tag]


def test_without_a_label_threshold_the_display_threshold_applies(make_product, settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6}
    product = make_product()
    analysis = _store(product, _ring(0.7, None))
    assert Prediction.objects.get(analysis=analysis).threshold is None
    tag = ProductTag.objects.select_related("tag").get(product_id=str(product.pk))
    assert tag.threshold is None and tag.is_visible
    assert list(search.filter_products({"type": ["ring"]})) == [product]
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.75}
    assert not tag.is_visible
    assert list(search.filter_products({"type": ["ring"]})) == []
