"""The ``jewel-vision`` commands that touch the shop's data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jewel_vision.cli import main
from jewel_vision.models import Analysis
from shop.models import Product

pytestmark = pytest.mark.django_db


def test_requeue_sends_stale_and_failed_analyses(filesystem_broker, make_product, add_photo, capsys):
    ok = add_photo(make_product(), seed=1)
    failed = add_photo(make_product(), seed=2)
    Analysis.objects.filter(image_id=str(ok.pk)).update(enqueued_at=None, created_at=timezone.now() - timedelta(hours=1))
    Analysis.objects.filter(image_id=str(failed.pk)).update(status=Analysis.Status.FAILED, error="x")
    queued_before = len(list((filesystem_broker / "queue").iterdir()))

    assert main(["requeue"]) == 0
    assert "requeued 1 analyses" in capsys.readouterr().out
    assert main(["requeue", "--failed"]) == 0
    assert "requeued 1 analyses" in capsys.readouterr().out
    assert Analysis.objects.get(image_id=str(failed.pk)).status == Analysis.Status.PENDING
    assert len(list((filesystem_broker / "queue").iterdir())) == queued_before + 2


def test_requeue_reports_a_broker_outage(make_product, add_photo, capsys):
    from tests.conftest import celery_broker

    with celery_broker("redis://127.0.0.1:1/0"):
        image = add_photo(make_product())
        Analysis.objects.filter(image_id=str(image.pk)).update(created_at=timezone.now() - timedelta(hours=1))
        assert main(["requeue"]) == 1
    assert "could not reach the broker" in capsys.readouterr().out


def test_import_catalog_generates_products_without_datasets(filesystem_broker, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("shop.catalog.datasets_dir", lambda: None)
    assert main(["import-catalog", "--limit", "3"]) == 0
    assert Product.objects.count() == 3
    assert all(p.images.count() == 2 for p in Product.objects.all())
    assert Analysis.objects.count() == 6  # every photo is queued for analysis
    assert "generated drawings" in capsys.readouterr().out


def test_import_catalog_from_a_folder(filesystem_broker, tmp_path):
    from tests.conftest import photo_bytes

    (tmp_path / "rings").mkdir()
    (tmp_path / "rings" / "a.jpg").write_bytes(photo_bytes(seed=1))
    (tmp_path / "b.png").write_bytes(photo_bytes(seed=2, fmt="PNG"))
    (tmp_path / "notes.txt").write_text("not a photo")
    assert main(["import-catalog", str(tmp_path)]) == 0
    assert Product.objects.count() == 2
    assert main(["import-catalog", str(tmp_path)]) == 0  # idempotent
    assert Product.objects.count() == 2


def test_requeue_outdated_reanalyses_photos_of_an_older_pipeline(filesystem_broker, make_product, add_photo, settings, capsys):
    from jewel_vision.registry import pipeline_version

    image = add_photo(make_product(), seed=3)
    first = Analysis.objects.get(image_id=str(image.pk))
    # A setting that changes what the pipeline returns makes a new pipeline version.
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PIPELINE": {"max_side": 1200}}
    new_version = pipeline_version()
    assert new_version != first.pipeline_version
    assert main(["requeue", "--outdated"]) == 0
    assert f"1 photos queued for the current pipeline ({new_version})" in capsys.readouterr().out
    current = Analysis.objects.get(image_id=str(image.pk), is_current=True)
    assert current.pk != first.pk and current.pipeline_version == new_version
    assert main(["requeue", "--outdated"]) == 0  # nothing more to do the second time
    assert "0 photos queued" in capsys.readouterr().out


def test_train_facet_without_examples_is_a_clear_error(tmp_path, settings, capsys):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PIPELINE": {"facet_heads_dir": str(tmp_path)}}
    assert main(["train", "facet", "style"]) == 2
    assert "accept or add tags on at least 3 analysed products" in capsys.readouterr().err
    assert main(["train", "facet"]) == 2
    assert main(["train", "facet", "type"]) == 2  # type is adapted from reviewed type tags: none here
    assert "to adapt the type head, accept or correct type tags" in capsys.readouterr().err


@pytest.mark.parametrize("model,option", [("type", "--loso-only"), ("detector", "--hard-fraction"), ("stones", "--gems")])
def test_train_dispatches_to_the_training_scripts(model, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", model, "--help"])
    assert exit_info.value.code == 0
    assert option in capsys.readouterr().out


def test_bench_load_defaults_are_the_issue_target():
    from jewel_vision.cli import build_parser

    args = build_parser().parse_args(["bench-load"])
    assert (args.uploads, args.concurrency, args.workers) == (200, 50, 2)
    assert args.settings == "shop.settings" and args.celery_app == "worker"


def test_bench_load_against_a_running_server_needs_its_database(tmp_path):
    with pytest.raises(SystemExit, match="--database-url"):
        main(["bench-load", "--uploads", "1", "--server-url", "http://127.0.0.1:9", "--images", str(tmp_path),
              "--reference-n", "0"])
