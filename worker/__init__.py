"""The Celery app that runs Jewel Vision's analyses: ``celery -A worker worker -Q jewel_vision``."""

from worker.celery import app

__all__ = ["app"]
