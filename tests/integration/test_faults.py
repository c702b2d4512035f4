"""Faults around a running analysis, with real Celery workers (issue 10, item 15).

What must hold: no accepted or rejected tag is ever changed or lost by a model, and
every analysis ends ``done`` or ``failed`` with the true reason.

* a worker killed between inference and store (SIGKILL while it waits in the store hook);
* the database connection cut mid-task (PostgreSQL: ``pg_terminate_backend`` on the
  worker's backends between inference and store): the transient error is retried with
  the same attempt and the analysis ends done;
* the soft time limit in a real prefork worker: the analysis ends failed saying so.

Staff review racing aggregation, two photos of one product finishing together, a
SIGKILL mid-task and the broker down and back are in tests/services/test_aggregation.py and
tests/integration/test_worker.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from jewel_vision.models import Analysis, ProductTag
from tests.conftest import ROOT, Worker, celery_broker, database_url, is_postgres, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class FaultyWorker(Worker):
    """``celery -A tests.integration.faulty_worker worker`` (the store hook), solo or prefork pool."""

    def __init__(self, broker_url, env, log, pool="solo"):
        self.log = log
        full_env = {**os.environ, **env, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": database_url()}
        full_env.pop("DJANGO_DEBUG", None)
        pool_args = ["--pool", "solo"] if pool == "solo" else ["--pool", "prefork", "--concurrency", "1"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.integration.faulty_worker", "worker", "-Q", "jewel_vision",
             *pool_args, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
            cwd=ROOT, env=full_env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )


@pytest.fixture
def faulty_worker(tmp_path, media_dir):
    workers = []

    def start(broker_url, pool="solo", **env):
        env.setdefault("JEWEL_VISION_MEDIA_ROOT", str(media_dir))
        worker = FaultyWorker(broker_url, env, tmp_path / f"faulty-{len(workers)}.log", pool=pool)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        try:
            worker.kill()
        except Exception:  # noqa: BLE001
            pass


def _analysis(image) -> Analysis:
    return Analysis.objects.get(image_id=str(image.pk), is_current=True)


def _wait_end(image, worker, timeout=240) -> Analysis:
    try:
        wait_for(lambda: _analysis(image).status in ("done", "failed"), timeout=timeout, what="the analysis to end")
    except AssertionError:
        raise AssertionError(f"worker log:\n{worker.output()}") from None
    return _analysis(image)


def _decisions(product):
    """Staff decisions on the product: (tag, review state, confidence, source) of each accepted/rejected tag."""
    return sorted(
        (str(t.tag), t.review_state, t.confidence, t.source)
        for t in ProductTag.objects.filter(product_id=str(product.pk)).exclude(review_state="suggested").select_related("tag")
    )


def _staff_decides(product, django_user_model):
    from jewel_vision.services import review

    staff = django_user_model.objects.create_user("reviewer", password="pw-reviewer-123", is_staff=True)
    review.add(product, "type:necklace", user=staff)  # a person says: necklace (the photo shows a ring)
    review.add(product, "style:vintage", user=staff)
    return _decisions(product)


def test_worker_killed_between_inference_and_store(redis_broker, faulty_worker, tmp_path, make_product, add_photo, django_user_model):
    pause = tmp_path / "paused"
    with celery_broker(redis_broker, {"visibility_timeout": 5}):
        first = faulty_worker(redis_broker, CELERY_VISIBILITY_TIMEOUT="5", CELERY_UNACKED_RESTORE_THROTTLE="1", JV_TEST_PAUSE_FILE=str(pause))
        product = make_product()
        decided = _staff_decides(product, django_user_model)
        image = add_photo(product, kind="ring", seed=21)
        wait_for(pause.exists, timeout=240, what=f"inference to finish\n{first.output()}")
        assert _analysis(image).status == "running" and _analysis(image).attempts == 1
        first.kill(signal.SIGKILL)  # inference done, nothing stored
        assert _analysis(image).status == "running"
        second = faulty_worker(redis_broker, CELERY_VISIBILITY_TIMEOUT="5", CELERY_UNACKED_RESTORE_THROTTLE="1", JV_TEST_PAUSE_FILE=str(pause))
        analysis = _wait_end(image, second)
    assert analysis.status == "done", (analysis.error, second.output())
    assert analysis.attempts == 2  # the redelivered message took over the lost run
    assert analysis.predictions.exists()
    assert _decisions(product) == decided  # the model changed no decision


@pytest.mark.postgres
def test_database_connection_cut_mid_task_is_retried_and_ends_done(
    redis_broker, faulty_worker, tmp_path, make_product, add_photo, django_user_model
):
    if not is_postgres():
        pytest.skip("cuts PostgreSQL backends (the PostgreSQL pass of scripts/test.sh runs it)")
    from django.db import connection

    pause, go = tmp_path / "paused", tmp_path / "go"
    worker = faulty_worker(redis_broker, JV_TEST_PAUSE_FILE=str(pause), JV_TEST_GO_FILE=str(go))
    product = make_product()
    decided = _staff_decides(product, django_user_model)
    image = add_photo(product, kind="ring", seed=22)
    wait_for(pause.exists, timeout=240, what=f"inference to finish\n{worker.output()}")
    # What a database restart does to the worker: every connection it holds is gone.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    go.write_text("go")
    analysis = _wait_end(image, worker)
    assert analysis.status == "done", (analysis.error, worker.output())
    assert analysis.attempts == 1  # the transient error was retried within the same attempt
    assert "retrying" in worker.output() or "Retry" in worker.output()
    assert _decisions(product) == decided


def test_soft_time_limit_in_a_prefork_worker_ends_failed_saying_so(
    redis_broker, faulty_worker, tmp_path, settings, make_product, add_photo
):
    # Limits travel with each message (enqueue reads them); the prefork pool enforces them.
    # The run stops in the models' loading, the inference or the store hook's pause: all past 4 s.
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "TASK_SOFT_TIME_LIMIT": 4, "TASK_TIME_LIMIT": 120}
    worker = faulty_worker(redis_broker, pool="prefork", JV_TEST_PAUSE_FILE=str(tmp_path / "paused"))
    image = add_photo(make_product(), kind="ring", seed=24)
    analysis = _wait_end(image, worker, timeout=120)
    assert analysis.status == "failed", worker.output()
    assert analysis.error == "stopped: the analysis took longer than the time limit of 4 s (TASK_SOFT_TIME_LIMIT)"
    assert not analysis.predictions.exists()
    assert worker.proc.poll() is None  # the worker goes on
