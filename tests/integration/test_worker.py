"""Real Celery workers over real brokers, on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from jewel_vision.analysis.start import requeue
from jewel_vision.models import Analysis, ProductTag
from tests.conftest import celery_broker, is_postgres, photo_bytes, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def status_of(image) -> str | None:
    a = Analysis.objects.filter(image_id=str(image.pk), is_current=True).first()
    return a.status if a else None


def wait_done(image, worker, timeout=180) -> Analysis:
    try:
        wait_for(lambda: status_of(image) in ("done", "failed"), timeout=timeout, what=f"analysis of {image}")
    except AssertionError:
        raise AssertionError(f"worker log:\n{worker.output()}") from None
    return Analysis.objects.get(image_id=str(image.pk), is_current=True)


def type_tags(product) -> list[str]:
    return list(ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type").values_list("tag__value", flat=True))


def test_redis_worker_stores_tags(redis_broker, start_worker, make_product, add_photo):
    worker = start_worker(redis_broker)
    product = make_product()
    front = add_photo(product, kind="earring", seed=1)
    side = add_photo(product, kind="earring", seed=2)
    for image in (front, side):
        assert wait_done(image, worker).status == "done", worker.output()
    assert len(type_tags(product)) == 1
    tag = ProductTag.objects.get(product_id=str(product.pk), tag__facet="type")
    assert tag.analyses.count() == 2  # both views voted


@pytest.mark.sqlite_only
def test_embedded_default_sqlite_and_filesystem_broker(filesystem_broker, start_worker, make_product, add_photo):
    assert not is_postgres()
    worker = start_worker("filesystem://", JEWEL_VISION_BROKER_DIR=str(filesystem_broker))
    product = make_product()
    image = add_photo(product, kind="bracelet")
    assert wait_done(image, worker).status == "done", worker.output()
    assert type_tags(product)


def test_corrupt_photo_fails_and_the_worker_goes_on(redis_broker, start_worker, make_product, add_photo):
    worker = start_worker(redis_broker)
    product = make_product()
    broken = add_photo(product, data=photo_bytes()[:300], name="truncated.jpg")
    good = add_photo(product, kind="ring", seed=9)
    failed = wait_done(broken, worker)
    assert failed.status == "failed" and "cannot analyse this photo" in failed.error
    assert wait_done(good, worker).status == "done"
    assert worker.proc.poll() is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broker_down_at_upload_then_back(tmp_path, settings, start_worker, make_product, add_photo):
    # The sweep re-sends analyses never sent after PENDING_REQUEUE_AFTER seconds; no waiting here.
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PENDING_REQUEUE_AFTER": 0}
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with celery_broker(url):
        product = make_product()
        image = add_photo(product, kind="necklace")  # broker is down: the save must still succeed
        analysis = Analysis.objects.get(image_id=str(image.pk))
        assert analysis.status == "pending" and analysis.enqueued_at is None

        server = subprocess.Popen(
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: _can_connect(port), timeout=20, what="redis-server to start")
            worker = start_worker(url)
            assert requeue() == (1, 0)  # what the periodic sweep does
            assert wait_done(image, worker).status == "done"
        finally:
            server.terminate()
            server.wait(timeout=10)


def _can_connect(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_worker_killed_mid_task_is_redelivered(redis_broker, start_worker, make_product, add_photo):
    # A short visibility timeout, so the unacknowledged task comes back quickly.
    with celery_broker(redis_broker, {"visibility_timeout": 5}):
        first = start_worker(redis_broker, CELERY_VISIBILITY_TIMEOUT="5", CELERY_UNACKED_RESTORE_THROTTLE="1")
        product = make_product()
        image = add_photo(product, kind="ring", seed=5)
        wait_for(lambda: status_of(image) == "running", timeout=120, what="the task to start")
        first.kill()  # kill -9 while the models load / the photo is analysed
        assert status_of(image) == "running"
        second = start_worker(redis_broker, CELERY_VISIBILITY_TIMEOUT="5", CELERY_UNACKED_RESTORE_THROTTLE="1")
        analysis = wait_done(image, second, timeout=240)
    assert analysis.status == "done", second.output()
    assert analysis.attempts == 2
    assert type_tags(product)
