"""System checks (``manage.py check``; also before ``runserver``, ``migrate`` and a worker's start).

Every piece a shop has to add to use Jewel Vision is checked here, and each error says
the exact line to write:

* ``jewel_vision.E001``: an app the API or the models need is not in ``INSTALLED_APPS``.
* ``jewel_vision.E002``: ``JEWEL_VISION["IMAGE_MODEL"]`` is not set, or not an installed model.
* ``jewel_vision.E003``: ``JEWEL_VISION["IMAGE_FIELD"]`` is not a file/image field of it.
* ``jewel_vision.E004``: ``JEWEL_VISION["PRODUCT_FIELD"]`` is not its foreign key to the product.
* ``jewel_vision.E005``: ``PRODUCT_NAME_FIELD`` / ``PRODUCT_STOCK_FIELD`` / ``PRODUCT_PRICE_FIELD``
  name no field of the product model.
* ``jewel_vision.E006``: no Celery app is loaded with Django, so analyses are never sent.
* ``jewel_vision.E007``: the Celery app has no broker (``CELERY_BROKER_URL``).
* ``jewel_vision.E008``: search by photo runs on a worker (``PHOTO_SEARCH = "worker"``) but the
  Celery app has no result backend to bring the answer back.
* ``jewel_vision.W002``: SQLite without a lock ``timeout`` while a worker writes beside the web process.

* ``jewel_vision.W001`` (``--deploy``): the API's throttles count per process.
"""

from __future__ import annotations

from typing import Any

from celery import _state as celery_state
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldDoesNotExist

from jewel_vision.conf import SETTING_NAME, jv_settings

# App label -> the line to add. ``rest_framework.authtoken``: the API accepts
# ``Authorization: Token ...``; ``drf_spectacular_sidecar``: the docs page's scripts,
# served by the shop itself (no CDN).
REQUIRED_APPS = {
    "django.contrib.contenttypes": "django.contrib.contenttypes",
    "django.contrib.auth": "django.contrib.auth",
    "rest_framework": "rest_framework",
    "rest_framework.authtoken": "rest_framework.authtoken",
    "drf_spectacular": "drf_spectacular",
    "drf_spectacular_sidecar": "drf_spectacular_sidecar",
}

PRODUCT_FIELD_KEYS = ("PRODUCT_NAME_FIELD", "PRODUCT_STOCK_FIELD", "PRODUCT_PRICE_FIELD")


def _installed(name: str) -> bool:
    return any(config.name == name for config in apps.get_app_configs())


@checks.register()
def check_required_apps(app_configs: Any = None, **kwargs: Any) -> list:
    errors = []
    for name, line in REQUIRED_APPS.items():
        if not _installed(name):
            errors.append(
                checks.Error(
                    f"Jewel Vision needs {name!r} in INSTALLED_APPS.",
                    hint=f'Add it: INSTALLED_APPS += ["{line}"] (once; Django\'s default apps are already there '
                    "in a new project).",
                    id="jewel_vision.E001",
                )
            )
    return errors


def _field_names(model) -> str:
    return ", ".join(f.name for f in model._meta.get_fields() if getattr(f, "concrete", False))


@checks.register()
def check_models_and_fields(app_configs: Any = None, **kwargs: Any) -> list:
    label = jv_settings.IMAGE_MODEL
    try:
        model = apps.get_model(label) if label else None
    except (ValueError, LookupError):
        model = None
    if model is None:
        problem = "is not set" if not label else f"= {label!r} is not an installed model"
        return [
            checks.Error(
                f"{SETTING_NAME}['IMAGE_MODEL'] {problem}.",
                hint=f'Set {SETTING_NAME}["IMAGE_MODEL"] = "app_label.ModelName" of your product-photo model, '
                'e.g. "catalog.ProductPhoto", and make sure its app is in INSTALLED_APPS.',
                id="jewel_vision.E002",
            )
        ]
    errors = []
    image_field = jv_settings.IMAGE_FIELD
    file_fields = [f.name for f in model._meta.get_fields() if hasattr(f, "upload_to")]
    try:
        field = model._meta.get_field(image_field)
        bad = not hasattr(field, "upload_to")
    except FieldDoesNotExist:
        bad = True
    if bad:
        errors.append(
            checks.Error(
                f"{SETTING_NAME}['IMAGE_FIELD'] = {image_field!r} is not an image or file field of {model._meta.label}.",
                hint=f'Set {SETTING_NAME}["IMAGE_FIELD"] to one of: {", ".join(map(repr, file_fields)) or "(none: add an ImageField)"}.',
                id="jewel_vision.E003",
            )
        )
    product_field = jv_settings.PRODUCT_FIELD
    relations = [f.name for f in model._meta.get_fields() if f.many_to_one and f.concrete]
    try:
        field = model._meta.get_field(product_field)
        bad = not (field.many_to_one and field.concrete)
    except FieldDoesNotExist:
        bad = True
    if bad:
        errors.append(
            checks.Error(
                f"{SETTING_NAME}['PRODUCT_FIELD'] = {product_field!r} is not a foreign key of {model._meta.label} "
                "to the product.",
                hint=f'Set {SETTING_NAME}["PRODUCT_FIELD"] to one of: {", ".join(map(repr, relations)) or "(none: add a ForeignKey)"}.',
                id="jewel_vision.E004",
            )
        )
        return errors
    product_model = field.related_model
    for key in PRODUCT_FIELD_KEYS:
        name = getattr(jv_settings, key)
        if name is None:
            continue
        try:
            product_model._meta.get_field(name)
        except FieldDoesNotExist:
            errors.append(
                checks.Error(
                    f"{SETTING_NAME}['{key}'] = {name!r}: {product_model._meta.label} has no such field "
                    f"(its fields: {_field_names(product_model)}).",
                    hint=f'Set {SETTING_NAME}["{key}"] to the field of {product_model._meta.label} that holds it, '
                    f"or to None if your products have none.",
                    id="jewel_vision.E005",
                )
            )
    return errors


def _project_celery_app():
    """The Celery app the project created (None: only Celery's fallback app, or none)."""
    return celery_state._tls.current_app


@checks.register()
def check_celery(app_configs: Any = None, **kwargs: Any) -> list:
    app = _project_celery_app()
    if app is None:
        return [
            checks.Error(
                "No Celery app is loaded with Django: uploads would be analysed never (the tasks would go "
                "to Celery's default broker, amqp://localhost, or nowhere).",
                hint='Create myshop/celery.py with: app = Celery("myshop"); '
                'app.config_from_object("django.conf:settings", namespace="CELERY"); app.autodiscover_tasks(); '
                'and load it in myshop/__init__.py: from .celery import app as celery_app '
                "(README: Installing into an existing shop).",
                id="jewel_vision.E006",
            )
        ]
    conf = app.conf
    if not (conf.broker_url or conf.broker_write_url):
        return [
            checks.Error(
                f"The Celery app {app.main!r} has no broker: analyses would stay pending.",
                hint='Set CELERY_BROKER_URL = "redis://127.0.0.1:6379/0" (or amqp://...) in settings, and make '
                'the app read it: app.config_from_object("django.conf:settings", namespace="CELERY").',
                id="jewel_vision.E007",
            )
        ]
    if jv_settings.PHOTO_SEARCH == "worker" and str(conf.result_backend or "disabled").lower() == "disabled":
        return [
            checks.Error(
                f"{SETTING_NAME}['PHOTO_SEARCH'] is 'worker' but the Celery app {app.main!r} has no result backend: "
                "search by photo would wait for an answer that cannot come back.",
                hint='Set CELERY_RESULT_BACKEND (e.g. "redis://127.0.0.1:6379/1", or "rpc://" with RabbitMQ), or '
                f'{SETTING_NAME}["PHOTO_SEARCH"] = "in_process" to analyse shoppers\' photos in the web process.',
                id="jewel_vision.E008",
            )
        ]
    return []


@checks.register()
def check_sqlite_timeout(app_configs: Any = None, **kwargs: Any) -> list:
    db = settings.DATABASES.get("default", {})
    if not str(db.get("ENGINE", "")).endswith("sqlite3") or "timeout" in (db.get("OPTIONS") or {}):
        return []
    return [
        checks.Warning(
            "SQLite without a lock timeout: with a Celery worker writing beside the web process, a save can "
            'fail at once with "database is locked".',
            hint='Add DATABASES["default"]["OPTIONS"] = {"timeout": 20} (seconds), or use PostgreSQL.',
            id="jewel_vision.W002",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_throttle_cache(app_configs: Any = None, **kwargs: Any) -> list:
    """``manage.py check --deploy``: throttle counts kept per process are no limit across processes."""
    alias = jv_settings.THROTTLE_CACHE
    backend = str(getattr(settings, "CACHES", {}).get(alias, {}).get("BACKEND", ""))
    if backend.endswith(("LocMemCache", "DummyCache")):
        return [
            checks.Warning(
                f"JEWEL_VISION['THROTTLE_CACHE'] = {alias!r} is {backend.rsplit('.', 1)[-1]}: each web process "
                "counts requests on its own, so the API's throttles (search by photo included) allow N times the "
                "rate with N processes.",
                hint="Point the cache at a server every process shares, e.g. django.core.cache.backends.redis.RedisCache "
                "(the demo shop: set REDIS_URL).",
                id="jewel_vision.W001",
            )
        ]
    return []
