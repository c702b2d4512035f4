"""Search by photo on a worker (``PHOTO_SEARCH = "worker"``): the web process loads no model,
waits for a real worker over a real broker, and answers 504 or 503 when it cannot."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from jewel_vision.registry import configured_pipeline
from jewel_vision.vision.pipeline import clear_pipeline_cache
from tests.conftest import REDIS_TEST_URL, celery_broker, photo_bytes

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/search/photo/"


@contextmanager
def result_backend(url: str):
    """Point this process' Celery app (the web side) at another result backend."""
    from worker import app

    old = app.conf.result_backend
    app.conf.result_backend = url
    app._local.__dict__.pop("backend", None)
    try:
        yield
    finally:
        app.conf.result_backend = old
        app._local.__dict__.pop("backend", None)


def _search(client, seed: int = 1):
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("ring.jpg", photo_bytes("ring", "gold", seed=seed), content_type="image/jpeg")
    return client.post(URL, {"image": photo})


@pytest.fixture
def on_worker(settings):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "worker", "PHOTO_SEARCH_TIMEOUT": 90}
    clear_pipeline_cache()
    yield
    clear_pipeline_cache()


def test_the_photo_is_analysed_on_a_worker_and_the_web_process_loads_no_model(on_worker, redis_broker, start_worker, client):
    worker = start_worker(redis_broker, queues="jewel_vision_interactive")
    with result_backend(REDIS_TEST_URL):
        response = _search(client)
    assert response.status_code == 200, (response.content[:500], worker.output())
    body = response.json()
    assert body["tags"] and body["tags"][0]["facet"], body  # the worker's pipeline tagged the drawn ring
    assert body["timings_ms"]["analyse"] > 0
    # This process never ran the pipeline: its models are not loaded.
    pipeline = configured_pipeline()
    assert not pipeline.embedder.loaded


def test_no_worker_in_time_is_a_504(settings, redis_broker, client):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "worker", "PHOTO_SEARCH_TIMEOUT": 1.5}
    with result_backend(REDIS_TEST_URL):
        t0 = time.monotonic()
        response = _search(client)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"
    assert time.monotonic() - t0 < 10


def test_a_broker_that_is_down_is_a_503(settings, client):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "worker", "PHOTO_SEARCH_TIMEOUT": 5}
    with celery_broker("redis://127.0.0.1:1/0"), result_backend("redis://127.0.0.1:1/0"):
        response = _search(client)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


def test_the_shop_page_says_so_too(settings, client):
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "worker", "PHOTO_SEARCH_TIMEOUT": 5}
    from django.core.files.uploadedfile import SimpleUploadedFile

    with celery_broker("redis://127.0.0.1:1/0"), result_backend("redis://127.0.0.1:1/0"):
        photo = SimpleUploadedFile("ring.jpg", photo_bytes("ring", "gold", seed=2), content_type="image/jpeg")
        response = client.post("/search/photo/", {"image": photo})
    assert response.status_code == 503
    assert b"unavailable right now" in response.content
