"""Celery tasks. They take primary keys, are idempotent and retry transient errors."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from jewel_vision.conf import jv_settings

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError, OSError)


@shared_task(
    bind=True,
    name="jewel_vision.analyze_image",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def analyze_image(self, analysis_id: int) -> str:
    """Analyse one image. Redelivered if the worker dies mid-task (acks_late)."""
    from jewel_vision.runner import run_analysis

    try:
        return run_analysis(analysis_id)
    except TRANSIENT_ERRORS as exc:
        retries = self.request.retries
        if retries >= jv_settings.MAX_RETRIES:
            from jewel_vision.results import mark_failed

            mark_failed(analysis_id, f"transient error persisted after {retries} retries: {exc}")
            raise
        countdown = min(2 ** retries, 300)
        logger.warning("Analysis %s hit %r; retrying in %ss", analysis_id, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=jv_settings.MAX_RETRIES)
    except DatabaseError:
        raise
    except Exception as exc:
        from jewel_vision.results import mark_failed

        mark_failed(analysis_id, f"internal error: {type(exc).__name__}: {exc}")
        raise


@shared_task(name="jewel_vision.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    """Periodic sweep: re-enqueue analyses never sent, lost, or orphaned by a dead worker."""
    from jewel_vision.analyses import requeue

    sent, failed = requeue()
    if sent or failed:
        logger.info("Requeued %s stale analyses (%s could not be sent)", sent, failed)
    return sent
