"""Product tags from several views, and a person's decisions."""

import pytest

from jewel_vision import review
from jewel_vision.aggregation import aggregate_product, vote
from jewel_vision.models import Analysis, Prediction, ProductTag, Tag


def test_views_vote_by_mean_confidence():
    views = [
        {("type", "ring"): 0.9, ("stone", "pearl"): 0.8},
        {("type", "ring"): 0.5, ("type", "earring"): 0.5, ("stone", "pearl"): 0.2},
        {("type", "earring"): 0.6},
    ]
    votes = vote(views)
    # ring: 1.4/3 beats earring: 1.1/3; only the winning type is kept; stones are multi-label.
    assert [k for k in votes if k[0] == "type"] == [("type", "ring")]
    assert votes[("type", "ring")] == pytest.approx(1.4 / 3, abs=1e-5)
    assert votes[("stone", "pearl")] == pytest.approx(1.0 / 3, abs=1e-5)


def test_exclusive_facet_keeps_only_the_winner_and_threshold_applies():
    views = [{("type", "ring"): 0.7, ("type", "earring"): 0.3, ("colour", "red"): 0.1}] * 2
    votes = vote(views, min_confidence=0.2)
    assert votes == {("type", "ring"): 0.7}


def test_no_views_no_votes():
    assert vote([]) == {}


def _analysis(product, n: int, preds: dict[str, float]) -> Analysis:
    from jewel_vision.analyses import image_type

    a = Analysis.objects.create(
        image_type=image_type(), image_id=f"img-{product.pk}-{n}", product_id=str(product.pk),
        content_hash=f"{n:064d}", pipeline_version="test", status=Analysis.Status.DONE,
    )
    for label, conf in preds.items():
        facet, value = Tag.parse(label)
        tag, _ = Tag.objects.get_or_create(facet=facet, value=value)
        Prediction.objects.create(analysis=a, tag=tag, confidence=conf, model="type-head", model_version="7")
    return a


def _tags(product) -> dict[str, ProductTag]:
    return {str(t.tag): t for t in ProductTag.objects.filter(product_id=str(product.pk)).select_related("tag")}


@pytest.mark.django_db
def test_product_tags_aggregate_over_all_photos(make_product):
    product = make_product()
    a1 = _analysis(product, 1, {"type:ring": 0.9, "type:earring": 0.1})
    a2 = _analysis(product, 2, {"type:ring": 0.6, "type:earring": 0.4})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    assert list(tags) == ["type:ring"]
    ring = tags["type:ring"]
    assert ring.confidence == pytest.approx(0.75)
    assert ring.source == ProductTag.Source.MODEL and ring.source_detail == "type-head@7"
    assert set(ring.analyses.values_list("pk", flat=True)) == {a1.pk, a2.pk}


@pytest.mark.django_db
def test_a_person_decision_is_never_overwritten_by_a_model(make_product):
    product = make_product()
    _analysis(product, 1, {"type:ring": 0.9, "stone:pearl": 0.8, "colour:red": 0.7})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    review.reject(tags["stone:pearl"])
    review.add(product, "type:pendant")  # a person says it is a pendant
    assert "type:ring" not in _tags(product)  # competing suggestion removed on acceptance

    _analysis(product, 2, {"type:ring": 0.95, "stone:pearl": 0.99, "colour:red": 0.9})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    assert "type:ring" not in tags
    assert tags["type:pendant"].review_state == ProductTag.Review.ACCEPTED
    assert tags["type:pendant"].source == ProductTag.Source.PERSON
    assert tags["stone:pearl"].review_state == ProductTag.Review.REJECTED
    assert tags["colour:red"].confidence == pytest.approx(0.8)


@pytest.mark.django_db
def test_visibility_uses_thresholds(make_product, settings):
    settings.JEWEL_VISION = {"DISPLAY_THRESHOLD": 0.6}
    product = make_product()
    _analysis(product, 1, {"type:ring": 0.5, "colour:red": 0.9})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    assert not tags["type:ring"].is_visible(0.6)
    assert tags["colour:red"].is_visible(0.6)
    review.accept(tags["type:ring"])
    assert tags["type:ring"].is_visible(0.6)
