"""Settings of the demo shop project.

Embedded defaults: SQLite and kombu's filesystem broker under ``var/``, so the
demo needs no server. ``DATABASE_URL`` (e.g. postgresql://user@host/db),
``CELERY_BROKER_URL`` (redis://... or amqp://...) and ``REDIS_URL`` / ``CACHE_URL``
(the cache, which holds the API's throttle counts) switch to production engines.

Fail closed: ``DEBUG`` is off unless ``DJANGO_DEBUG=1``, and with DEBUG off the
process refuses to start without ``DJANGO_SECRET_KEY``. HTTPS-only cookies, HSTS
and the redirect to HTTPS are on whenever DEBUG is off. ``make demo`` runs with
``DJANGO_DEBUG=1`` and a key generated once into ``var/secret-key``.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("JEWEL_VISION_VAR_DIR", BASE_DIR / "var"))


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None or value == "" else value.strip().lower() in ("1", "true", "yes", "on")


def _generated_key(path: Path) -> str:
    """A random key made once for this checkout (the demo, the tests), kept in ``path`` (mode 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(64) + "\n")
        try:
            os.link(tmp, path)  # atomic: the first process to get here wins, the others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


# The test suite (pytest) is a development run like the demo: it gets a generated key,
# exported so the worker processes its integration tests start share it.
_TESTING = "pytest" in sys.modules
DEBUG = _flag("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip()
if not SECRET_KEY:
    if not (DEBUG or _TESTING):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DEBUG off (the default) the shop refuses to start without a secret "
            "key: set DJANGO_SECRET_KEY to a long random value (python -c 'import secrets; "
            "print(secrets.token_urlsafe(64))'), or DJANGO_DEBUG=1 on a development machine."
        )
    SECRET_KEY = _generated_key(VAR_DIR / "secret-key")
    if _TESTING:
        os.environ["DJANGO_SECRET_KEY"] = SECRET_KEY
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

# Reverse proxies in front of the web processes that append to X-Forwarded-For (and set
# X-Forwarded-Proto). 0: trust no forwarded header; the client is REMOTE_ADDR.
NUM_PROXIES = int(os.environ.get("DJANGO_NUM_PROXIES", "0"))
if NUM_PROXIES > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# HTTPS only whenever DEBUG is off, outside the test suite (each can be turned off by its
# variable, e.g. for a plain-HTTP trial on localhost; `manage.py check --deploy` then says so).
_PRODUCTION = not (DEBUG or _TESTING)
SECURE_SSL_REDIRECT = _flag("DJANGO_SECURE_SSL_REDIRECT", _PRODUCTION)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _flag("DJANGO_SECURE_COOKIES", _PRODUCTION)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600) if _PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _flag("DJANGO_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "jewel_vision",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker is a separate process: wait for the writer instead of failing.
    # BEGIN IMMEDIATE: a transaction takes the write lock when it starts, so one that
    # reads and then writes never meets "database is locked" half-way (Django >= 5.1).
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=30, transaction_mode="IMMEDIATE")
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# The cache: Redis when REDIS_URL (or CACHE_URL) is set, shared by every web process (the
# API's throttle counts live here, so a client's budget is one across processes); else
# each process's local memory, which is enough for the embedded demo only.
_CACHE_URL = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL") or ""
if _CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL}}
elif _CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL/REDIS_URL must be a redis:// URL, got {_CACHE_URL!r}.")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("JEWEL_VISION_MEDIA_ROOT", VAR_DIR / "media"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 25 * 2**20
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 2**20

# --- Jewel Vision -----------------------------------------------------------
JEWEL_VISION = {
    "IMAGE_MODEL": "shop.ProductImage",
    "IMAGE_FIELD": "image",
    "PRODUCT_FIELD": "product",
    "QUEUE": "jewel_vision",
    # "auto": pgvector's HNSW index on PostgreSQL with the vector extension, else the in-process exact index.
    "INDEX_BACKEND": os.environ.get("JEWEL_VISION_INDEX_BACKEND", "auto"),
    # The demo product model's fields (these are also the defaults).
    "PRODUCT_PRICE_FIELD": "price",
    "PRODUCT_STOCK_FIELD": "stock",
    "PRODUCT_NAME_FIELD": "name",
    # Heads the shop teaches by example (style ...), read by every worker.
    "PIPELINE": {"facet_heads_dir": str(VAR_DIR / "facet_heads")},
    # Drafts: shoppers see published products only, on every page, widget and API path.
    "SHOPPER_QUERYSET": "shop.models.shopper_products",
    # Throttles: who the client is (see NUM_PROXIES above), and where the counts live.
    "NUM_PROXIES": NUM_PROXIES,
    "THROTTLE_CACHE": "default",
    # Search by photo runs on a worker (queue jewel_vision_interactive), so the web process holds
    # no models; JEWEL_VISION_PHOTO_SEARCH=in_process runs it in the web process instead.
    "PHOTO_SEARCH": os.environ.get("JEWEL_VISION_PHOTO_SEARCH", "worker"),
    "INTERACTIVE_QUEUE": "jewel_vision_interactive",
}

# --- Celery -----------------------------------------------------------------
BROKER_DIR = Path(os.environ.get("JEWEL_VISION_BROKER_DIR", VAR_DIR / "broker"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    # Redis: an unacknowledged task comes back after this many seconds (worker died).
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "900")),
    # ... found by a scan every 10 s x this many (kombu's default 10: up to 100 s late).
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "10")),
    # A worker serving several queues takes from the first one listed first (-Q jewel_vision_interactive,...).
    "queue_order_strategy": "priority",
}
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "processed"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Only search by photo waits for a result (its task says so): Redis with a Redis broker, RabbitMQ's
# reply queues with RabbitMQ, files beside the embedded filesystem broker.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _RESULTS = CELERY_BROKER_URL
elif CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    _RESULTS = "rpc://"
else:
    (VAR_DIR / "celery-results").mkdir(parents=True, exist_ok=True)
    _RESULTS = f"file://{VAR_DIR / 'celery-results'}"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", _RESULTS)
CELERY_RESULT_EXPIRES = 600
CELERY_TASK_DEFAULT_QUEUE = JEWEL_VISION["QUEUE"]
CELERY_TASK_ROUTES = {
    "jewel_vision.analyse_search_photo": {"queue": JEWEL_VISION["INTERACTIVE_QUEUE"]},
    "jewel_vision.*": {"queue": JEWEL_VISION["QUEUE"]},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "jewel-vision-sweep": {"task": "jewel_vision.requeue_stale", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    # Jewel Vision's API views use their own exception handler and throttles
    # (rates in JEWEL_VISION["API_THROTTLE_RATES"]); these are for other DRF views.
    "EXCEPTION_HANDLER": "jewel_vision.api.errors.exception_handler",
    "NUM_PROXIES": NUM_PROXIES,  # for other DRF views' throttles (None would trust X-Forwarded-For)
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jewel Vision API",
    "DESCRIPTION": "Products with their tags, similar items, complete the look, recommendations, "
    "search by photo and tag review for a jewelry shop.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}
if importlib.util.find_spec("drf_spectacular_sidecar"):
    # Swagger UI and ReDoc served from static files (no CDN needed).
    INSTALLED_APPS.append("drf_spectacular_sidecar")
    SPECTACULAR_SETTINGS.update(SWAGGER_UI_DIST="SIDECAR", SWAGGER_UI_FAVICON_HREF="SIDECAR", REDOC_DIST="SIDECAR")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"jewel_vision": {"handlers": ["console"], "level": os.environ.get("JEWEL_VISION_LOG_LEVEL", "INFO")}},
}
