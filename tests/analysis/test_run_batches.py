"""A worker runs up to ``ANALYSIS_BATCH_SIZE`` photos as one batch (issue 12, item 3), in-process.

The real pipeline on drawn photos; only the broker is left out (``enqueue`` records what
would be sent). Real workers over Redis: tests/integration/test_worker_batches.py.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from jewel_vision.analysis.run import batch_size_of, run_analysis
from jewel_vision.analysis.start import stale_analyses
from jewel_vision.models import Analysis, Prediction, ProductTag, StoredEmbedding

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[int]:
    import jewel_vision.analysis.start as analyses

    sent: list[int] = []
    monkeypatch.setattr(analyses, "enqueue", lambda pk: sent.append(pk) or True)
    return sent


class CountingPipeline:
    """The real pipeline, counting the batches and single runs it is given."""

    def __init__(self):
        from jewel_vision.registry import configured_pipeline

        self.inner = configured_pipeline()
        self.embedder = self.inner.embedder
        self.batches: list[int] = []
        self.runs = 0

    def warmup(self):
        self.inner.warmup()

    def run_batch(self, photos, return_exceptions=False):
        self.batches.append(len(photos))
        return self.inner.run_batch(photos, return_exceptions=return_exceptions)

    def run(self, photo):
        self.runs += 1
        return self.inner.run(photo)


def _analysis_of(image) -> Analysis:
    return Analysis.objects.get(image_id=str(image.pk), is_current=True)


def _photos(make_product, add_photo, capture, n: int, corrupt_at: int | None = None):
    product = make_product()
    images = []
    with capture(execute=True):
        for k in range(n):
            if k == corrupt_at:
                images.append(add_photo(product, data=b"\xff\xd8\xff\xe0 not really a jpeg", name="broken.jpg"))
            else:
                images.append(add_photo(product, kind="ring", seed=40 + k))
    return product, [_analysis_of(image) for image in images]


def test_one_task_runs_the_pending_photos_as_one_batch_and_a_corrupt_one_fails_alone(
    make_product, add_photo, django_capture_on_commit_callbacks
):
    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 4, corrupt_at=2)
    pipeline = CountingPipeline()
    state: dict = {}
    assert run_analysis(analyses[0].pk, pipeline, batch_size=8, state=state) == "done"
    assert pipeline.batches == [4] and pipeline.runs == 0  # one batched run, no fallback
    rows = {a.pk: a for a in Analysis.objects.filter(pk__in=[a.pk for a in analyses])}
    broken = rows.pop(analyses[2].pk)
    assert broken.status == Analysis.Status.FAILED and broken.error.startswith("cannot analyse this photo:")
    for analysis in rows.values():
        assert analysis.status == Analysis.Status.DONE and analysis.attempts == 1
        assert analysis.predictions.exists() and StoredEmbedding.objects.filter(analysis=analysis).exists()
    assert len({a.started_at for a in rows.values()} | {broken.started_at}) == 1  # claimed as one batch
    assert state["outcomes"] == {a.pk: ("failed" if a.pk == broken.pk else "done") for a in analyses}
    # The batch-mates' own messages come later and find them finished.
    assert [run_analysis(a.pk, pipeline, batch_size=8) for a in analyses[1:]] == ["skipped"] * 3
    assert pipeline.batches == [4] and pipeline.runs == 0


def test_the_same_batch_run_twice_changes_nothing(make_product, add_photo, django_capture_on_commit_callbacks):
    product, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    assert run_analysis(analyses[0].pk, batch_size=8) == "done"

    def snapshot():
        return (
            sorted(Prediction.objects.filter(analysis__in=analyses).values_list("analysis_id", "tag_id", "confidence")),
            sorted(ProductTag.objects.filter(product_id=str(product.pk)).values_list("tag_id", "confidence", "review_state")),
            sorted(Analysis.objects.filter(pk__in=[a.pk for a in analyses]).values_list("pk", "status", "attempts")),
        )

    before = snapshot()
    for analysis in analyses:  # every message delivered again, in any order
        assert run_analysis(analysis.pk, batch_size=8) == "skipped"
    assert run_analysis(analyses[-1].pk, batch_size=8, redelivered=True) == "skipped"
    assert snapshot() == before


def test_a_person_s_tag_is_kept_by_a_batch(make_product, add_photo, django_user_model, django_capture_on_commit_callbacks):
    from jewel_vision.services import review

    staff = django_user_model.objects.create_user("reviewer", password="pw-reviewer-123", is_staff=True)
    product = make_product()
    review.add(product, "type:necklace", user=staff)  # a person says necklace; the photos show rings
    decided = list(ProductTag.objects.filter(product_id=str(product.pk)).values_list("tag__value", "review_state", "source"))
    with django_capture_on_commit_callbacks(execute=True):
        images = [add_photo(product, kind="ring", seed=60 + k) for k in range(3)]
    assert run_analysis(_analysis_of(images[0]).pk, batch_size=8) == "done"
    assert all(_analysis_of(image).status == Analysis.Status.DONE for image in images)
    types = ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type")
    assert list(types.values_list("tag__value", "review_state", "source")) == decided


def test_batch_size_caps_the_batch_and_leaves_the_rest_pending(
    settings, make_product, add_photo, django_capture_on_commit_callbacks
):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "ANALYSIS_BATCH_SIZE": 2}
    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    pipeline = CountingPipeline()
    assert batch_size_of(pipeline) == 2
    assert run_analysis(analyses[0].pk, pipeline, batch_size=None) == "done"
    assert pipeline.batches == [2]
    statuses = list(Analysis.objects.filter(pk__in=[a.pk for a in analyses]).order_by("pk").values_list("status", flat=True))
    assert statuses == ["done", "done", "pending"]


def test_the_default_batch_size_follows_the_device(settings):
    class Device:
        def __init__(self, device):
            self.embedder = type("E", (), {"device": device})()

    assert (batch_size_of(Device("cpu")), batch_size_of(Device("cuda:0"))) == (8, 16)
    from jewel_vision.conf import jv_settings

    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "ANALYSIS_BATCH_SIZE": 0}
    with pytest.raises(ImproperlyConfigured, match="ANALYSIS_BATCH_SIZE"):
        jv_settings.validate()


def test_a_live_batch_is_not_taken_by_another_worker(make_product, add_photo, django_capture_on_commit_callbacks):
    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    # Another worker claimed the first two a moment ago and is running them.
    Analysis.objects.filter(pk__in=[analyses[0].pk, analyses[1].pk]).update(
        status=Analysis.Status.RUNNING, attempts=1, started_at=timezone.now()
    )
    pipeline = CountingPipeline()
    assert run_analysis(analyses[1].pk, pipeline, batch_size=8) == "skipped"  # its duplicate message
    assert run_analysis(analyses[2].pk, pipeline, batch_size=8) == "done"
    assert pipeline.runs == 1 and pipeline.batches == []  # the third ran alone, the live ones were not taken
    assert Analysis.objects.get(pk=analyses[0].pk).status == Analysis.Status.RUNNING


def test_a_killed_worker_s_batch_is_requeued_and_taken_over_whole(
    settings, make_product, add_photo, sent, django_capture_on_commit_callbacks
):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "STUCK_AFTER": 900}
    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    # What a worker killed mid-batch leaves: its three claims, running, one claim time.
    claimed = timezone.now() - timedelta(seconds=1000)
    Analysis.objects.filter(pk__in=[a.pk for a in analyses]).update(
        status=Analysis.Status.RUNNING, attempts=1, started_at=claimed
    )
    # The sweep (requeue_stale) finds them all once STUCK_AFTER has passed ...
    assert set(stale_analyses()) == {a.pk for a in analyses}
    # ... and the first delivery takes the whole lost batch over (as a redelivered message does).
    pipeline = CountingPipeline()
    assert run_analysis(analyses[1].pk, pipeline, batch_size=8) == "done"
    assert pipeline.batches == [3]
    rows = Analysis.objects.filter(pk__in=[a.pk for a in analyses])
    assert sorted(rows.values_list("status", "attempts")) == [("done", 2)] * 3
    assert stale_analyses() == []


def test_a_redelivered_message_takes_over_its_lost_batch(make_product, add_photo, django_capture_on_commit_callbacks):
    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    claimed = timezone.now()
    Analysis.objects.filter(pk__in=[a.pk for a in analyses[:2]]).update(
        status=Analysis.Status.RUNNING, attempts=1, started_at=claimed
    )
    pipeline = CountingPipeline()
    assert run_analysis(analyses[0].pk, pipeline, batch_size=8, redelivered=True) == "done"
    assert pipeline.batches == [3]  # the lost mate and the pending third photo
    assert sorted(Analysis.objects.filter(pk__in=[a.pk for a in analyses]).values_list("attempts", flat=True)) == [1, 2, 2]


def test_a_transient_error_releases_the_batch_mates_and_sends_them_again(
    monkeypatch, make_product, add_photo, sent, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    import jewel_vision.analysis.run as runner

    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    sent.clear()
    real = runner.store_result

    def store(analysis_id, result):
        if analysis_id == analyses[2].pk:
            raise OperationalError("server closed the connection unexpectedly")
        return real(analysis_id, result)

    monkeypatch.setattr(runner, "store_result", store)
    state: dict = {}
    with pytest.raises(OperationalError):
        run_analysis(analyses[0].pk, batch_size=8, state=state)
    rows = {a.pk: a for a in Analysis.objects.filter(pk__in=[a.pk for a in analyses])}
    assert rows[analyses[1].pk].status == Analysis.Status.DONE  # stored before the error
    assert rows[analyses[2].pk].status == Analysis.Status.PENDING and rows[analyses[2].pk].started_at is None
    assert sent == [analyses[2].pk]  # released and sent again
    # The task's own photo stays claimed, for its retry with the same attempt.
    assert rows[analyses[0].pk].status == Analysis.Status.RUNNING
    assert run_analysis(analyses[0].pk, claim=state["attempt"], batch_size=1) == "done"


def test_when_the_batched_run_raises_each_photo_runs_alone(make_product, add_photo, django_capture_on_commit_callbacks):
    _, analyses = _photos(make_product, add_photo, django_capture_on_commit_callbacks, 3)
    pipeline = CountingPipeline()
    bad = analyses[1]
    from jewel_vision.analysis.run import read_image_bytes

    poison = read_image_bytes(bad)

    def run_batch(photos, return_exceptions=False):
        raise RuntimeError("CUDA out of memory")

    def run(photo):
        pipeline.runs += 1
        if photo == poison:
            raise ValueError("a bug this photo triggers")
        return pipeline.inner.run(photo)

    pipeline.run_batch, pipeline.run = run_batch, run
    assert run_analysis(analyses[0].pk, pipeline, batch_size=8) == "done"
    assert pipeline.runs == 3
    failed = Analysis.objects.get(pk=bad.pk)
    assert failed.status == Analysis.Status.FAILED
    assert failed.error == "internal error: ValueError: a bug this photo triggers"
    assert Analysis.objects.get(pk=analyses[2].pk).status == Analysis.Status.DONE
