"""Backfill: selections, rate and in-flight limits, resuming, the command's summary, a real worker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from jewel_vision.analysis import backfill
from jewel_vision.analysis.backfill_options import SELECTIONS
from jewel_vision.models import Analysis, BackfillRun, ProductTag
from tests.conftest import ROOT, REDIS_TEST_URL, database_url


@pytest.fixture
def sent(monkeypatch):
    """The analyses sent to the broker, in order (no broker here; the worker tests below have one)."""
    import jewel_vision.analysis.start as start

    log: list[int] = []
    monkeypatch.setattr(start, "enqueue", lambda pk: log.append(pk) or True)
    return log


@pytest.fixture
def clean_catalogue(settings, make_product, add_photo):
    """``clean_catalogue(n)``: products with one photo each, never analysed (AUTO_ANALYZE off while adding)."""
    def make(n: int, **photo):
        settings.JEWEL_VISION = {**settings.JEWEL_VISION, "AUTO_ANALYZE": False}
        images = [add_photo(make_product(f"Old piece {i}"), kind=("ring", "earring", "bracelet")[i % 3], seed=i) for i in range(n)]
        settings.JEWEL_VISION = {**settings.JEWEL_VISION, "AUTO_ANALYZE": True}
        return images

    return make


@pytest.fixture
def step(django_capture_on_commit_callbacks):
    """One step of a run, its analyses sent as its transaction commits."""
    def run_step(pk: int) -> BackfillRun:
        with django_capture_on_commit_callbacks(execute=True):
            return backfill.step(pk)

    return run_step


def finish_all(status="done"):
    Analysis.objects.filter(status__in=["pending", "running"]).update(status=status)


def test_the_terminal_choices_are_the_models():
    assert set(SELECTIONS) == set(BackfillRun.Selection.values) - {"products"}


@pytest.mark.django_db
def test_selections(clean_catalogue, sent, catalog):
    images = clean_catalogue(4)
    tagged = catalog("ring", "gold", 50)
    run = lambda sel: backfill.selected_images(BackfillRun(selection=sel, pipeline_version=backfill.pipeline_version()))  # noqa: E731
    assert {i.pk for i in run("new")} == {i.pk for i in images}
    assert {i.pk for i in run("untagged")} == {i.pk for i in images}
    assert run("all").count() == 5
    a = backfill.analyze(images[0])
    Analysis.objects.filter(pk=a.pk).update(status="failed")
    b = backfill.analyze(images[1])
    Analysis.objects.filter(pk=b.pk).update(status="done", pipeline_version="old@1")
    assert [i.pk for i in run("failed")] == [images[0].pk]
    assert [i.pk for i in run("outdated")] == [images[1].pk]
    assert {i.pk for i in run("new")} == {images[2].pk, images[3].pk}
    assert ProductTag.objects.filter(product_id=str(tagged.pk)).exists()


@pytest.mark.django_db
def test_rate_and_in_flight_limits(clean_catalogue, sent, step):
    clean_catalogue(7)
    run = backfill.start("new", rate=2, max_in_flight=3, on_workers=False)
    assert run.total == 7
    assert step(run.pk).enqueued == 2  # rate: 2 a second, one step a second
    assert step(run.pk).enqueued == 3  # at most 3 unfinished
    assert step(run.pk).enqueued == 3
    finish_all()
    run = step(run.pk)
    assert run.enqueued == 5 and len(sent) == 5
    finish_all("failed")
    step(run.pk)
    run = step(run.pk)
    finish_all()
    run = step(run.pk)
    assert run.status == "done" and run.exhausted
    assert run.summary | {"seconds": 0, "photos_per_second": 0} == {
        "selected": 7, "enqueued": 7, "skipped": 0, "unreadable": 0, "done": 5, "failed": 2, "seconds": 0, "photos_per_second": 0,
        "pipeline_version": run.pipeline_version,
    }
    assert len(sent) == len(set(sent)) == 7


@pytest.mark.django_db
def test_an_interrupted_backfill_resumes_where_it_stopped(clean_catalogue, sent, step, capsys, django_capture_on_commit_callbacks):
    images = clean_catalogue(5)
    run = backfill.start("all", rate=2, max_in_flight=10, on_workers=False)
    step(run.pk)  # then the terminal is closed
    first = list(sent)
    assert len(first) == 2
    with django_capture_on_commit_callbacks(execute=True):
        call_command("jewel_vision_backfill", "--select", "all", "--no-wait", "--rate", "100")
    err = capsys.readouterr().err
    assert f"resuming backfill {run.pk}" in err
    assert BackfillRun.objects.count() == 1
    assert len(sent) == 5 and sent[:2] == first  # the first two photos were not sent again
    run.refresh_from_db()
    assert run.cursor == str(images[-1].pk) and run.exhausted
    finish_all()
    call_command("jewel_vision_backfill", "--select", "all", "--rate", "100")
    out = capsys.readouterr().out
    assert f"backfill {run.pk} done: 5 photos selected, 5 analysed, 0 failed, 0 already up to date" in out


@pytest.mark.django_db
def test_a_photo_missing_from_storage_is_counted_not_fatal(clean_catalogue, sent, step):
    images = clean_catalogue(3)
    images[1].image.storage.delete(images[1].image.name)
    run = backfill.start("new", rate=10, on_workers=False)
    run = step(run.pk)
    assert (run.enqueued, run.unreadable, run.exhausted) == (2, 1, True)


@pytest.mark.django_db
def test_already_analysed_photos_are_skipped(clean_catalogue, sent, capsys):
    images = clean_catalogue(3)
    backfill.analyze(images[0])
    finish_all()
    call_command("jewel_vision_backfill", "--select", "untagged", "--rate", "100", "--no-wait")
    run = BackfillRun.objects.get()
    assert (run.skipped, run.enqueued) == (1, 2)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_cli_backfill_with_a_real_worker(redis_broker, start_worker, clean_catalogue, media_dir, tmp_path):
    images = clean_catalogue(3)
    worker = start_worker(redis_broker)
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": REDIS_TEST_URL,
           "JEWEL_VISION_MEDIA_ROOT": str(media_dir), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "jewel_vision.cli", "backfill", "--rate", "5", "--settings", "shop.settings", "--timeout", "400"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=500,
    )
    assert done.returncode == 0, done.stderr + worker.output()
    run = BackfillRun.objects.get()
    assert f"backfill {run.pk} done: 3 photos selected, 3 analysed, 0 failed" in done.stdout, done.stdout + done.stderr
    assert "3/3" in done.stderr  # tqdm's bar reached the end
    assert Analysis.objects.filter(image_id__in=[str(i.pk) for i in images], status="done").count() == 3
    assert ProductTag.objects.filter(tag__facet="type").count() == 3


@pytest.mark.django_db
def test_admin_start_watch_resume_cancel_and_permissions(client, staff, manager, clean_catalogue, sent, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    from celery import current_app

    steps = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: steps.append((name, args)))
    clean_catalogue(2)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/jewel_vision/backfillrun/add/", {"selection": "new", "rate": 5, "max_in_flight": 8})
    run = BackfillRun.objects.get()
    assert response.url == f"/admin/jewel_vision/backfillrun/{run.pk}/progress/"
    assert steps == [("jewel_vision.backfill_step", [run.pk])] and run.started_by == manager and run.total == 2
    progress = client.get(f"/admin/jewel_vision/backfillrun/{run.pk}/progress.json").json()
    assert (progress["status"], progress["total"], progress["finished"]) == ("running", 2, 0)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/jewel_vision/backfillrun/{run.pk}/control/", {"do": "resume"})
    assert steps[-1] == ("jewel_vision.backfill_step", [run.pk])
    client.post(f"/admin/jewel_vision/backfillrun/{run.pk}/control/", {"do": "cancel"})
    run.refresh_from_db()
    assert run.status == "cancelled" and backfill.step(run.pk).enqueued == 0  # a cancelled run sends nothing more
    # Watching needs view_backfillrun; starting add_backfillrun and change_analysis; control change_backfillrun.
    viewer = staff("jewel_vision.view_backfillrun")
    client.force_login(viewer)
    assert client.get(f"/admin/jewel_vision/backfillrun/{run.pk}/progress/").status_code == 200
    assert client.post(f"/admin/jewel_vision/backfillrun/{run.pk}/control/", {"do": "resume"}).status_code == 403
    adder = staff("jewel_vision.view_backfillrun", "jewel_vision.add_backfillrun")
    client.force_login(adder)
    assert client.post("/admin/jewel_vision/backfillrun/add/", {"selection": "new", "rate": 5, "max_in_flight": 8}).status_code == 403
    client.force_login(staff())
    assert client.get(f"/admin/jewel_vision/backfillrun/{run.pk}/progress.json").status_code == 403
    assert BackfillRun.objects.count() == 1
