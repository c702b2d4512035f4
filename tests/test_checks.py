"""jewel_vision.E001...: every missing piece of an installation is a system check naming its fix."""

import pytest
from celery import Celery

from jewel_vision import checks


def ids(errors):
    return [e.id for e in errors]


def test_the_demo_shop_passes_every_check():
    assert checks.check_required_apps() == []
    assert checks.check_models_and_fields() == []
    assert checks.check_celery() == []
    assert checks.check_sqlite_timeout() == []


def test_a_missing_app_names_the_line_to_add(monkeypatch):
    monkeypatch.setattr(checks, "_installed", lambda name: name != "rest_framework.authtoken")
    (error,) = checks.check_required_apps()
    assert error.id == "jewel_vision.E001" and 'INSTALLED_APPS += ["rest_framework.authtoken"]' in error.hint


@pytest.mark.parametrize(
    "value, code, hint",
    [
        ({"IMAGE_MODEL": "catalog.Nope"}, "jewel_vision.E002", "IMAGE_MODEL"),
        ({"IMAGE_MODEL": None}, "jewel_vision.E002", "IMAGE_MODEL"),
        ({"IMAGE_FIELD": "position"}, "jewel_vision.E003", "'image'"),
        ({"PRODUCT_FIELD": "position"}, "jewel_vision.E004", "'product'"),
        ({"PRODUCT_NAME_FIELD": "title"}, "jewel_vision.E005", 'JEWEL_VISION["PRODUCT_NAME_FIELD"]'),
    ],
)
def test_model_and_field_names(settings, value, code, hint):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", **value}
    errors = checks.check_models_and_fields()
    assert ids(errors) == [code] and hint in errors[0].hint


def test_all_three_product_fields_are_reported_at_once(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PRODUCT_NAME_FIELD": "title", "PRODUCT_STOCK_FIELD": "quantity", "PRODUCT_PRICE_FIELD": "cost"}
    assert ids(checks.check_models_and_fields()) == ["jewel_vision.E005"] * 3


def test_no_celery_app_and_no_broker(monkeypatch):
    monkeypatch.setattr(checks, "_project_celery_app", lambda: None)
    (error,) = checks.check_celery()
    assert error.id == "jewel_vision.E006" and "config_from_object" in error.hint
    app = Celery("elsewhere", set_as_current=False)
    monkeypatch.setattr(checks, "_project_celery_app", lambda: app)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    (error,) = checks.check_celery()
    assert error.id == "jewel_vision.E007" and "CELERY_BROKER_URL" in error.hint


def test_sqlite_without_timeout_warns(settings):
    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"}}
    (warning,) = checks.check_sqlite_timeout()
    assert warning.id == "jewel_vision.W002" and '"timeout": 20' in warning.hint


def test_photo_search_on_a_worker_needs_a_result_backend(settings, monkeypatch):
    app = Celery("elsewhere", set_as_current=False, broker="redis://127.0.0.1:6379/0")
    monkeypatch.setattr(checks, "_project_celery_app", lambda: app)
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "worker"}
    (error,) = checks.check_celery()
    assert error.id == "jewel_vision.E008" and "CELERY_RESULT_BACKEND" in error.hint
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "in_process"}
    assert checks.check_celery() == []
    app.conf.result_backend = "redis://127.0.0.1:6379/1"
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "worker"}
    assert checks.check_celery() == []
