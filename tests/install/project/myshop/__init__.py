# Load the Celery app with Django, so Jewel Vision's tasks are sent with its settings.
from .celery import app as celery_app

__all__ = ["celery_app"]
