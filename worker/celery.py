"""Celery application for the demo project (and a template for a shop's own).

Configuration comes from Django settings prefixed ``CELERY_``. Models load
lazily, once per worker process; ``JEWEL_VISION_PRELOAD=1`` loads them when
the process starts instead of on its first task.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("jewel_vision")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _preload_models(**kwargs: object) -> None:
    if os.environ.get("JEWEL_VISION_PRELOAD") == "1":
        from jewel_vision.runner import get_configured_pipeline

        get_configured_pipeline().warmup()
