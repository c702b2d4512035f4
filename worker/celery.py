"""Celery application for the demo project (and a template for a shop's own).

Configuration comes from Django settings prefixed ``CELERY_``. Models load
lazily, once per worker process; ``JEWEL_VISION_PRELOAD=1`` loads them when
the process starts instead of on its first task. ``celery -A worker beat`` runs
the sweep every ``JEWEL_VISION['SWEEP_INTERVAL']`` seconds.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("jewel_vision")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _sweep_schedule(sender: Celery, **kwargs: object) -> None:
    """Run Jewel Vision's sweep every ``JEWEL_VISION['SWEEP_INTERVAL']`` seconds under ``celery beat``.

    An entry of the same name in ``CELERY_BEAT_SCHEDULE`` wins.
    """
    from jewel_vision.tasks import beat_schedule

    sender.conf.beat_schedule = {**beat_schedule(), **(sender.conf.beat_schedule or {})}


@worker_process_init.connect
def _preload_models(**kwargs: object) -> None:
    if os.environ.get("JEWEL_VISION_PRELOAD") == "1":
        from jewel_vision.registry import configured_pipeline

        configured_pipeline().warmup()
