"""Running analyses in-process with the real pipeline: results, idempotency, bad photos."""

import pytest

from jewel_vision.models import Analysis, StoredEmbedding, Prediction, ProductTag
from jewel_vision.analysis.run import run_analysis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    import jewel_vision.analysis.start as analyses

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
    emb = StoredEmbedding.objects.get(analysis=analysis)
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
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "MAX_ATTEMPTS": 2}
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)
    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.RUNNING, attempts=2)
    assert run_analysis(analysis.pk) == "skipped"
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED and "gave up after 2 attempts" in analysis.error


# --- Claims, failures and time limits (issue 10, item 9) ---------------------------------


class _CountingPipeline:
    """The real pipeline, counting its runs."""

    def __init__(self):
        from jewel_vision.registry import configured_pipeline

        self.inner = configured_pipeline()
        self.runs = 0

    def warmup(self):
        self.inner.warmup()

    def run(self, data):
        self.runs += 1
        return self.inner.run(data)


def _running(image, *, started_ago_s: float = 0, attempts: int = 1) -> Analysis:
    from datetime import timedelta

    from django.utils import timezone

    analysis = _analysis_of(image)
    Analysis.objects.filter(pk=analysis.pk).update(
        status=Analysis.Status.RUNNING, attempts=attempts, started_at=timezone.now() - timedelta(seconds=started_ago_s)
    )
    return analysis


def test_a_live_duplicate_delivery_does_not_run_twice(make_product, add_photo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _running(image)  # another worker claimed it a moment ago and is still at it
    pipeline = _CountingPipeline()
    assert run_analysis(analysis.pk, pipeline) == "skipped"
    assert pipeline.runs == 0
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.RUNNING and analysis.attempts == 1


def test_a_lost_run_is_recovered_by_redelivery_or_after_stuck_after(
    settings, make_product, add_photo, django_capture_on_commit_callbacks
):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "STUCK_AFTER": 900}
    with django_capture_on_commit_callbacks(execute=True):
        redelivered = add_photo(make_product(), seed=1)
        stuck = add_photo(make_product(), seed=2)
    # acks_late: the broker redelivered the message of a worker that died.
    a = _running(redelivered)
    assert run_analysis(a.pk, redelivered=True) == "done"
    a.refresh_from_db()
    assert a.status == Analysis.Status.DONE and a.attempts == 2
    # No redelivery flag, but the run started longer ago than STUCK_AFTER: its worker is lost.
    b = _running(stuck, started_ago_s=1000)
    assert run_analysis(b.pk) == "done"
    b.refresh_from_db()
    assert b.status == Analysis.Status.DONE and b.attempts == 2


def test_mark_failed_never_overwrites_done(make_product, add_photo, django_capture_on_commit_callbacks):
    from jewel_vision.analysis.store import mark_failed

    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)
    assert run_analysis(analysis.pk) == "done"
    mark_failed(analysis.pk, "a late failure of a duplicate run")
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.DONE and analysis.error == ""


def _store_raising(monkeypatch, exc, times=1):
    import jewel_vision.analysis.run as runner

    real = runner.store_result
    calls = {"n": 0}

    def store(analysis_id, result):
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc
        return real(analysis_id, result)

    monkeypatch.setattr(runner, "store_result", store)
    return calls


def test_a_non_transient_database_error_fails_the_analysis_with_the_reason(
    monkeypatch, make_product, add_photo, django_capture_on_commit_callbacks
):
    from django.db import DataError

    from jewel_vision.tasks import analyze_image

    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)
    _store_raising(monkeypatch, DataError("value too long for type character varying(64)"), times=99)
    result = analyze_image.apply(args=[analysis.pk])
    assert isinstance(result.result, DataError)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED
    assert analysis.error == "database error: DataError: value too long for type character varying(64)"


def test_transient_retries_go_on_with_the_same_attempt(
    settings, monkeypatch, make_product, add_photo, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    from jewel_vision.tasks import analyze_image

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "MAX_ATTEMPTS": 2, "MAX_RETRIES": 5}
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)
    calls = _store_raising(monkeypatch, OperationalError("server closed the connection unexpectedly"), times=3)
    # Eager apply runs the retries in turn: three transient errors, then the store succeeds.
    assert analyze_image.apply(args=[analysis.pk]).result == "done"
    assert calls["n"] == 4
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.DONE and analysis.attempts == 1


def test_transient_errors_that_persist_end_failed_with_the_true_reason(
    settings, monkeypatch, make_product, add_photo, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    from jewel_vision.tasks import analyze_image

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "MAX_ATTEMPTS": 2, "MAX_RETRIES": 3}
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)
    _store_raising(monkeypatch, OperationalError("the database system is starting up"), times=99)
    analyze_image.apply(args=[analysis.pk])
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED
    assert analysis.error == (
        "transient error persisted after 3 retries: OperationalError: the database system is starting up"
    )
    assert analysis.attempts == 1


def test_the_soft_time_limit_ends_the_analysis_failed_with_a_true_message(
    settings, make_product, add_photo, django_capture_on_commit_callbacks
):
    from celery.exceptions import SoftTimeLimitExceeded

    import jewel_vision.analysis.run as runner
    from jewel_vision.tasks import analyze_image

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "TASK_SOFT_TIME_LIMIT": 42, "TASK_TIME_LIMIT": 60}
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    analysis = _analysis_of(image)

    class Slow:
        def warmup(self):
            pass

        def run(self, data):
            raise SoftTimeLimitExceeded()

    original = runner.configured_pipeline
    runner.configured_pipeline = lambda: Slow()
    try:
        assert analyze_image.apply(args=[analysis.pk]).result == "failed"
    finally:
        runner.configured_pipeline = original
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED
    assert analysis.error == "stopped: the analysis took longer than the time limit of 42 s (TASK_SOFT_TIME_LIMIT)"


def test_enqueue_sends_the_time_limits_from_settings(settings, monkeypatch, make_product, add_photo, django_capture_on_commit_callbacks):
    import jewel_vision.analysis.start as analyses
    from jewel_vision.tasks import analyze_image

    monkeypatch.undo()  # the real enqueue, with the message sent recorded
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "TASK_SOFT_TIME_LIMIT": 42, "TASK_TIME_LIMIT": 60}
    sent = []
    monkeypatch.setattr(analyses.current_app, "send_task", lambda name, *a, **kw: sent.append({"name": name, **kw}))
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    assert analyses.enqueue(_analysis_of(image).pk)
    assert sent and sent[-1]["soft_time_limit"] == 42 and sent[-1]["time_limit"] == 60
    assert sent[-1]["name"] == analyze_image.name and sent[-1]["queue"] == "jewel_vision"
