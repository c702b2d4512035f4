"""Real Celery workers over Redis run the pending photos as batches (issue 12, item 3).

The photos are uploaded before the worker starts, so their messages wait in the queue and
the first task finds them all pending: one batch (``ANALYSIS_BATCH_SIZE`` None: 8 on the CPU).
"""

from __future__ import annotations

import pytest

from jewel_vision.models import Analysis, ProductTag
from tests.conftest import celery_broker, photo_bytes, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _analyses(images) -> list[Analysis]:
    return [Analysis.objects.get(image_id=str(image.pk), is_current=True) for image in images]


def _wait_all(images, worker, statuses=("done", "failed"), timeout=240) -> list[Analysis]:
    try:
        wait_for(lambda: all(a.status in statuses for a in _analyses(images)), timeout=timeout, what=f"{statuses}")
    except AssertionError:
        raise AssertionError(f"worker log:\n{worker.output()}") from None
    return _analyses(images)


def test_a_worker_runs_the_queue_as_one_batch_and_a_corrupt_photo_fails_alone(
    redis_broker, start_worker, make_product, add_photo
):
    product = make_product()
    images = [add_photo(product, kind="earring", seed=70 + k) for k in range(3)]
    images.insert(1, add_photo(product, data=photo_bytes()[:300], name="truncated.jpg"))
    worker = start_worker(redis_broker)
    analyses = _wait_all(images, worker)
    broken = analyses.pop(1)
    assert broken.status == "failed" and "cannot analyse this photo" in broken.error
    assert [a.status for a in analyses] == ["done"] * 3, worker.output()
    assert len({a.started_at for a in [*analyses, broken]}) == 1  # claimed together: one batch
    assert ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type").exists()
    assert worker.proc.poll() is None


def test_a_worker_killed_mid_batch_has_the_whole_batch_taken_over(redis_broker, start_worker, make_product, add_photo):
    with celery_broker(redis_broker, {"visibility_timeout": 5}):
        product = make_product()
        images = [add_photo(product, kind="ring", seed=80 + k) for k in range(3)]
        first = start_worker(redis_broker, CELERY_VISIBILITY_TIMEOUT="5", CELERY_UNACKED_RESTORE_THROTTLE="1")
        claimed = _wait_all(images, first, statuses=("running",))
        assert len({a.started_at for a in claimed}) == 1
        first.kill()  # kill -9 mid-batch (models loading or photos analysed), nothing stored
        assert [a.status for a in _analyses(images)] == ["running"] * 3
        second = start_worker(redis_broker, CELERY_VISIBILITY_TIMEOUT="5", CELERY_UNACKED_RESTORE_THROTTLE="1")
        analyses = _wait_all(images, second)
    assert [(a.status, a.attempts) for a in analyses] == [("done", 2)] * 3, second.output()
