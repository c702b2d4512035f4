"""The demo shop: a minimal catalogue that Jewel Vision plugs into."""

# Load the Celery app with Django, so @shared_task uses its configuration.
from worker import app as celery_app

__all__ = ["celery_app"]
