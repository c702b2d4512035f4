"""The upload hook: what gets analysed, when, and what a delete removes."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile

from jewel_vision.analysis import start as analyses
from jewel_vision.models import Analysis, Prediction, ProductTag, Tag
from shop.models import Product, ProductImage
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """Record enqueued analyses instead of talking to a broker (the edge of these unit tests)."""
    calls: list[int] = []
    monkeypatch.setattr(analyses, "enqueue", lambda pk: calls.append(pk) or True)
    return calls


def test_save_creates_a_pending_analysis_enqueued_on_commit(make_product, add_photo, sent, django_capture_on_commit_callbacks):
    product = make_product()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        image = add_photo(product)
    analysis = Analysis.objects.get(image_id=str(image.pk))
    assert analysis.status == Analysis.Status.PENDING
    assert analysis.product_id == str(product.pk)
    assert len(analysis.content_hash) == 64
    assert sent == []  # nothing is sent before the transaction commits
    for callback in callbacks:
        callback()
    assert sent == [analysis.pk]


def test_raw_saves_from_fixtures_are_skipped(make_product, sent, django_capture_on_commit_callbacks):
    product = make_product()
    image = ProductImage(product=product, position=0)
    image.image.save("raw.jpg", ContentFile(photo_bytes()), save=False)
    with django_capture_on_commit_callbacks(execute=True):
        image.save_base(raw=True)
    assert not Analysis.objects.exists()
    assert sent == []


def test_unchanged_content_is_not_analysed_again(make_product, add_photo, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    with django_capture_on_commit_callbacks(execute=True):
        image.position = 3
        image.save()
    assert Analysis.objects.count() == 1
    assert len(sent) == 1


def test_same_content_uploaded_again_is_not_analysed_again(make_product, add_photo, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product(), data=photo_bytes(seed=1))
    Analysis.objects.update(status=Analysis.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        image.image.save("again.jpg", ContentFile(photo_bytes(seed=1)))
    assert Analysis.objects.count() == 1
    assert len(sent) == 1


def test_changed_content_is_analysed_and_supersedes_the_old(make_product, add_photo, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product(), data=photo_bytes(seed=1))
    first = Analysis.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        image.image.save("new.jpg", ContentFile(photo_bytes(seed=2)))
    second = Analysis.objects.exclude(pk=first.pk).get()
    first.refresh_from_db()
    assert not first.is_current and second.is_current
    assert sent == [first.pk, second.pk]


def test_force_reanalyses_same_content(make_product, add_photo, sent, django_capture_on_commit_callbacks):
    from jewel_vision import shortcuts

    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    Analysis.objects.update(status=Analysis.Status.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        analysis = shortcuts.analyze(image, force=True)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.PENDING and analysis.error == ""
    assert sent == [analysis.pk, analysis.pk]


def test_auto_analyze_off_means_explicit_calls_only(settings, make_product, add_photo, sent, django_capture_on_commit_callbacks):
    from jewel_vision import shortcuts

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "AUTO_ANALYZE": False}
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(make_product())
    assert not Analysis.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        shortcuts.analyze(image)
    assert Analysis.objects.count() == 1 and len(sent) == 1


def _done_with(analysis: Analysis, label: str, confidence: float) -> None:
    facet, value = Tag.parse(label)
    tag, _ = Tag.objects.get_or_create(facet=facet, value=value)
    Prediction.objects.create(analysis=analysis, tag=tag, confidence=confidence, model="m", model_version="1")
    analysis.status = Analysis.Status.DONE
    analysis.save()


def test_delete_removes_what_only_that_image_supported(make_product, add_photo, sent, django_capture_on_commit_callbacks):
    from jewel_vision.services import review
    from jewel_vision.services.aggregation import aggregate_product

    product = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        ring_photo = add_photo(product, data=photo_bytes(seed=1))
        other_photo = add_photo(product, data=photo_bytes(seed=2))
    a1 = Analysis.objects.get(image_id=str(ring_photo.pk))
    a2 = Analysis.objects.get(image_id=str(other_photo.pk))
    _done_with(a1, "stone:pearl", 0.9)
    _done_with(a1, "colour:white", 0.9)
    _done_with(a2, "colour:white", 0.9)
    aggregate_product(str(product.pk))
    review.add(product, "style:vintage")
    labels = lambda: sorted(str(t.tag) for t in ProductTag.objects.filter(product_id=str(product.pk)))  # noqa: E731
    assert labels() == ["colour:white", "stone:pearl", "style:vintage"]

    ring_photo.delete()
    assert not Analysis.objects.filter(image_id=str(ring_photo.pk)).exists()
    # The pearl was seen only on the deleted photo; white is still supported; the person's tag stays.
    assert labels() == ["colour:white", "style:vintage"]

    product.delete()
    ctype = ContentType.objects.get_for_model(Product)
    assert not ProductTag.objects.filter(product_type=ctype, product_id=str(product.pk)).exists()
    assert not Analysis.objects.exists()


def test_stale_analyses_are_found_by_the_sweep(make_product, add_photo, sent, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        never_sent = Analysis.objects.get(image_id=str(add_photo(make_product(), data=photo_bytes(seed=1)).pk))
        stuck = Analysis.objects.get(image_id=str(add_photo(make_product(), data=photo_bytes(seed=2)).pk))
        fresh = Analysis.objects.get(image_id=str(add_photo(make_product(), data=photo_bytes(seed=3)).pk))
    long_ago = timezone.now() - timedelta(hours=2)
    Analysis.objects.filter(pk=never_sent.pk).update(created_at=long_ago)
    Analysis.objects.filter(pk=stuck.pk).update(status=Analysis.Status.RUNNING, started_at=long_ago, enqueued_at=long_ago)
    Analysis.objects.filter(pk=fresh.pk).update(enqueued_at=timezone.now())
    assert analyses.stale_analyses() == [never_sent.pk, stuck.pk]
    assert analyses.requeue() == (2, 0)
    assert sent == [never_sent.pk, stuck.pk]


def test_broker_down_keeps_the_upload_and_the_pending_analysis(make_product, add_photo, django_capture_on_commit_callbacks):
    from tests.conftest import celery_broker

    with celery_broker("redis://127.0.0.1:1/0"):
        with django_capture_on_commit_callbacks(execute=True):
            image = add_photo(make_product())
    assert ProductImage.objects.filter(pk=image.pk).exists()
    analysis = Analysis.objects.get(image_id=str(image.pk))
    assert analysis.status == Analysis.Status.PENDING and analysis.enqueued_at is None


def test_the_sweep_does_not_resend_a_stuck_analysis_on_every_pass(make_product, add_photo, monkeypatch, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from jewel_vision.tasks import analyze_image

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "STUCK_AFTER": 900}
    sent: list = []
    # Enqueued by name (this layer sits below the tasks): the name is the task's.
    monkeypatch.setattr(
        analyses.current_app, "send_task", lambda name, *a, **kw: sent.append(kw["args"][0]) if name == analyze_image.name else None
    )
    with django_capture_on_commit_callbacks(execute=False):
        stuck = Analysis.objects.get(image_id=str(add_photo(make_product(), data=photo_bytes(seed=4)).pk))
    long_ago = timezone.now() - timedelta(hours=2)
    Analysis.objects.filter(pk=stuck.pk).update(status=Analysis.Status.RUNNING, started_at=long_ago, enqueued_at=long_ago, attempts=1)
    assert analyses.requeue() == (1, 0)
    stuck.refresh_from_db()
    # Released: pending again, no start time, just sent.
    assert stuck.status == Analysis.Status.PENDING and stuck.started_at is None and stuck.attempts == 1
    # The next passes (every SWEEP_INTERVAL) leave it alone until STUCK_AFTER has passed again.
    assert analyses.requeue() == (0, 0)
    assert analyses.requeue() == (0, 0)
    assert sent == [stuck.pk]


def test_the_beat_schedule_reads_sweep_interval(settings):
    from jewel_vision.tasks import beat_schedule

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "SWEEP_INTERVAL": 17}
    assert beat_schedule() == {"jewel-vision-sweep": {"task": "jewel_vision.requeue_stale", "schedule": 17.0}}
    from worker import app

    app.loader.import_default_modules()
    assert app.conf.beat_schedule["jewel-vision-sweep"]["task"] == "jewel_vision.requeue_stale"
