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


def _analysis(product, n: int, preds: dict[str, float], thresholds: dict[str, float] | None = None) -> Analysis:
    from jewel_vision.analyses import image_type

    a = Analysis.objects.create(
        image_type=image_type(), image_id=f"img-{product.pk}-{n}", product_id=str(product.pk),
        content_hash=f"{n:064d}", pipeline_version="test", status=Analysis.Status.DONE,
    )
    for label, conf in preds.items():
        facet, value = Tag.parse(label)
        tag, _ = Tag.objects.get_or_create(facet=facet, value=value)
        Prediction.objects.create(
            analysis=a, tag=tag, confidence=conf, threshold=(thresholds or {}).get(label),
            model="type-head", model_version="7",
        )
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
    assert not tags["type:ring"].is_visible()
    assert tags["colour:red"].is_visible()
    review.accept(tags["type:ring"])
    assert tags["type:ring"].is_visible()


@pytest.mark.django_db
def test_product_tags_keep_the_models_per_label_threshold(make_product, settings):
    settings.JEWEL_VISION = {"DISPLAY_THRESHOLD": 0.6}
    product = make_product()
    a1 = _analysis(product, 1, {"type:ring": 0.8, "colour:red": 0.9}, {"type:ring": 0.85})
    a2 = _analysis(product, 2, {"type:ring": 0.8}, {"type:ring": 0.9})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    ring = tags["type:ring"]
    # The strictest threshold of its supporting predictions; a label without one has None.
    assert ring.threshold == pytest.approx(0.9) and tags["colour:red"].threshold is None
    assert ring.review_state == ProductTag.Review.SUGGESTED and ring.confidence == pytest.approx(0.8)
    # Kept as a suggestion for review, not shown: 0.8 is above DISPLAY_THRESHOLD but below its own 0.9.
    assert ring.display_threshold == pytest.approx(0.9) and not ring.is_visible()
    assert tags["colour:red"].display_threshold == pytest.approx(0.6)

    # The photo with the stricter model goes: the stored threshold follows.
    a2.is_current = False
    a2.save(update_fields=["is_current"])
    aggregate_product(str(product.pk))
    ring = _tags(product)["type:ring"]
    assert ring.threshold == pytest.approx(0.85) and ring.is_visible() is False
    Prediction.objects.filter(analysis=a1, tag__value="ring").update(threshold=0.75)
    aggregate_product(str(product.pk))
    ring = _tags(product)["type:ring"]
    assert ring.threshold == pytest.approx(0.75) and ring.is_visible()
    Prediction.objects.filter(analysis=a1, tag__value="ring").update(threshold=None)
    aggregate_product(str(product.pk))
    assert _tags(product)["type:ring"].threshold is None


@pytest.mark.django_db
def test_a_person_decision_keeps_its_threshold(make_product):
    product = make_product()
    a1 = _analysis(product, 1, {"type:ring": 0.8, "stone:pearl": 0.7}, {"type:ring": 0.9, "stone:pearl": 0.9})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    review.accept(tags["type:ring"])
    review.reject(tags["stone:pearl"])
    before = {k: (t.threshold, t.updated_at) for k, t in _tags(product).items()}
    Prediction.objects.filter(analysis=a1).update(threshold=0.5)
    aggregate_product(str(product.pk))
    tags = _tags(product)
    assert {k: (t.threshold, t.updated_at) for k, t in tags.items()} == before
    assert tags["type:ring"].is_visible()  # accepted: shown whatever the threshold
    assert not tags["stone:pearl"].is_visible()  # rejected: never shown
    review.add(product, "style:vintage")
    assert _tags(product)["style:vintage"].threshold is None
