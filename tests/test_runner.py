"""Running analyses in-process with the real pipeline: results, idempotency, bad photos."""

import pytest

from jewel_vision.models import Analysis, Embedding, Prediction, ProductTag
from jewel_vision.runner import run_analysis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    import jewel_vision.analyses as analyses

    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)


def _analysis_of(image) -> Analysis:
    return Analysis.objects.get(image_id=str(image.pk), is_current=True)


def test_a_photo_gets_tags_and_an_embedding(make_product, add_photo, django_capture_on_commit_callbacks):
    product = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(product, kind="necklace")
    analysis = _analysis_of(image)
    assert run_analysis(analysis.pk) == "done"
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.DONE and analysis.attempts == 1
    assert {"detect", "embedding", "heads", "attributes", "ocr", "total"} <= set(analysis.timings_ms)
    assert analysis.model_versions
    emb = Embedding.objects.get(analysis=analysis)
    assert emb.dim == 1280 and emb.as_array().shape == (1280,)
    assert abs(float((emb.as_array() ** 2).sum()) - 1.0) < 1e-3
    types = ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type")
    assert types.count() == 1 and 0 < types.get().confidence <= 1

    # Idempotent: a redelivered task does nothing more.
    n_predictions = Prediction.objects.count()
    assert run_analysis(analysis.pk) == "skipped"
    assert Prediction.objects.count() == n_predictions


def test_a_corrupt_photo_fails_with_a_message_and_the_next_is_analysed(make_product, add_photo, django_capture_on_commit_callbacks):
    product = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        broken = add_photo(product, data=b"\xff\xd8\xff\xe0 this is not really a jpeg", name="broken.jpg")
        good = add_photo(product, kind="ring", seed=3)
    assert run_analysis(_analysis_of(broken).pk) == "failed"
    failed = _analysis_of(broken)
    assert failed.status == Analysis.Status.FAILED
    assert failed.error.startswith("cannot analyse this photo:")
    assert run_analysis(_analysis_of(good).pk) == "done"


def test_a_deleted_image_is_skipped(make_product, add_photo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    pk = _analysis_of(image).pk
    image.delete()
    assert run_analysis(pk) == "skipped"


def test_gives_up_after_max_attempts(settings, make_product, add_photo, django_capture_on_commit_callbacks):
    settings.JEWEL_VISION = {"MAX_ATTEMPTS": 2}
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)
    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.RUNNING, attempts=2)
    assert run_analysis(analysis.pk) == "skipped"
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED and "gave up after 2 attempts" in analysis.error
