"""Settings of the demo shop project.

Embedded defaults: SQLite and kombu's filesystem broker under ``var/``, so the
demo needs no server. ``DATABASE_URL`` (e.g. postgresql://user@host/db) and
``CELERY_BROKER_URL`` (redis://... or amqp://...) switch to production engines.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("JEWEL_VISION_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "insecure-demo-key-set-DJANGO_SECRET_KEY-in-production"
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

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
}

# --- Celery -----------------------------------------------------------------
BROKER_DIR = Path(os.environ.get("JEWEL_VISION_BROKER_DIR", VAR_DIR / "broker"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    # Redis: an unacknowledged task comes back after this many seconds (worker died).
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "900")),
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
CELERY_TASK_DEFAULT_QUEUE = JEWEL_VISION["QUEUE"]
CELERY_TASK_ROUTES = {"jewel_vision.*": {"queue": JEWEL_VISION["QUEUE"]}}
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
