"""Product tags from several views, and a person's decisions."""

import threading

import pytest
from django.db import connection, transaction

from jewel_vision.services import review
from jewel_vision.services.aggregation import aggregate_product, vote
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
    from jewel_vision.registry import image_content_type

    a = Analysis.objects.create(
        image_type=image_content_type(), image_id=f"img-{product.pk}-{n}", product_id=str(product.pk),
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
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6}
    product = make_product()
    _analysis(product, 1, {"type:ring": 0.5, "colour:red": 0.9})
    aggregate_product(str(product.pk))
    tags = _tags(product)
    assert not tags["type:ring"].is_visible
    assert tags["colour:red"].is_visible
    review.accept(tags["type:ring"])
    assert tags["type:ring"].is_visible


@pytest.mark.django_db
def test_product_tags_keep_the_models_per_label_threshold(make_product, settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6}
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
    assert ring.display_threshold == pytest.approx(0.9) and not ring.is_visible
    assert tags["colour:red"].display_threshold == pytest.approx(0.6)

    # The photo with the stricter model goes: the stored threshold follows.
    a2.is_current = False
    a2.save(update_fields=["is_current"])
    aggregate_product(str(product.pk))
    ring = _tags(product)["type:ring"]
    assert ring.threshold == pytest.approx(0.85) and ring.is_visible is False
    Prediction.objects.filter(analysis=a1, tag__value="ring").update(threshold=0.75)
    aggregate_product(str(product.pk))
    ring = _tags(product)["type:ring"]
    assert ring.threshold == pytest.approx(0.75) and ring.is_visible
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
    assert tags["type:ring"].is_visible  # accepted: shown whatever the threshold
    assert not tags["stone:pearl"].is_visible  # rejected: never shown
    review.add(product, "style:vintage")
    assert _tags(product)["style:vintage"].threshold is None


# --- races: a worker's aggregation against a person, and against another worker ------------
def _in_thread(target, errors: list) -> threading.Thread:
    def run():
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_decision_made_while_a_model_run_rewrites_the_tags_is_kept(make_product, monkeypatch, django_user_model):
    """The model run read the tags, a person accepted one, the run then deleted it as stale."""
    from django.db.models.query import QuerySet

    product = make_product()
    pid = str(product.pk)
    _analysis(product, 1, {"type:ring": 0.9, "colour:red": 0.8})
    with transaction.atomic():
        aggregate_product(pid)
    red = ProductTag.objects.get(product_id=pid, tag__facet="colour")
    Prediction.objects.filter(tag=red.tag).delete()  # a re-analysis no longer sees red
    staff = django_user_model.objects.create_user("reviewer", is_staff=True)

    worker: list[int] = []
    at_delete, resume = threading.Event(), threading.Event()
    original_delete = QuerySet.delete

    def paused_delete(self, *args, **kwargs):
        if self.model is ProductTag and threading.get_ident() in worker:
            at_delete.set()
            resume.wait(30)
        return original_delete(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "delete", paused_delete)

    def model_run():
        worker.append(threading.get_ident())
        with transaction.atomic():
            aggregate_product(pid)

    errors: list[Exception] = []
    run = _in_thread(model_run, errors)
    assert at_delete.wait(30)
    person = _in_thread(lambda: review.accept(ProductTag.objects.get(pk=red.pk), staff), errors)
    person.join(1.0)  # waits on the product's lock (before the fix it committed here)
    resume.set()
    run.join(30)
    person.join(30)
    assert not errors, errors
    kept = ProductTag.objects.get(product_id=pid, tag=red.tag)
    assert kept.review_state == ProductTag.Review.ACCEPTED
    assert kept.reviewed_by == staff and kept.reviewed_at is not None
    # ...and later model runs leave it alone.
    with transaction.atomic():
        aggregate_product(pid)
    assert ProductTag.objects.get(pk=kept.pk).review_state == ProductTag.Review.ACCEPTED


@pytest.mark.django_db(transaction=True)
def test_two_photos_of_one_product_finishing_together(make_product, monkeypatch):
    """Both aggregations read "no tags yet" and created the same tag: an IntegrityError."""
    import jewel_vision.services.aggregation as aggregation

    product = make_product()
    pid = str(product.pk)
    _analysis(product, 1, {"type:ring": 0.9, "colour:red": 0.8})
    _analysis(product, 2, {"type:ring": 0.7, "colour:red": 0.6})
    barrier = threading.Barrier(2)
    original_vote = aggregation.vote

    def vote_together(*args, **kwargs):
        try:
            barrier.wait(timeout=2)  # with the lock only one gets here at a time: it times out
        except threading.BrokenBarrierError:
            pass
        return original_vote(*args, **kwargs)

    monkeypatch.setattr(aggregation, "vote", vote_together)

    def model_run():
        with transaction.atomic():
            aggregate_product(pid)

    errors: list[Exception] = []
    threads = [_in_thread(model_run, errors) for _ in range(2)]
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    tags = _tags(product)
    assert set(tags) == {"type:ring", "colour:red"}
    assert tags["type:ring"].confidence == pytest.approx(0.8)
