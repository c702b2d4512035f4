"""Settings of a new project (``django-admin startproject myshop``) plus the README's Jewel Vision block.

Nothing else: no REST_FRAMEWORK, no SPECTACULAR_SETTINGS.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-install-test-only"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # --- Jewel Vision (README: Installing into an existing shop) ---
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "catalog",
    "jewel_vision",
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

ROOT_URLCONF = "myshop.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "myshop.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # A worker writes beside the web process: wait for SQLite's lock instead of failing.
        "OPTIONS": {"timeout": 20},
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"  # shared by the web process and the worker
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

JEWEL_VISION = {
    "IMAGE_MODEL": "catalog.ItemPhoto",
    "IMAGE_FIELD": "picture",
    "PRODUCT_FIELD": "item",
    "PRODUCT_NAME_FIELD": "title",
    "PRODUCT_STOCK_FIELD": "quantity",
    "PRODUCT_PRICE_FIELD": "price",
    "SHOPPER_QUERYSET": "catalog.visibility.published",
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL  # search by photo waits for its answer here
CELERY_TASK_ROUTES = {
    "jewel_vision.analyse_search_photo": {"queue": "jewel_vision_interactive"},
    "jewel_vision.*": {"queue": "jewel_vision"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
