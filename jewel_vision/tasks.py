"""Celery tasks. They take primary keys, are idempotent and retry transient errors."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError

from jewel_vision.conf import jv_settings
from jewel_vision.analysis.store import mark_failed
from jewel_vision.analysis.run import TRANSIENT_ERRORS, failure_message, run_analysis
from jewel_vision.analysis.start import requeue
from jewel_vision.services import photos, similarity
from jewel_vision.models import BackfillRun
from jewel_vision.analysis import backfill, heads

logger = logging.getLogger(__name__)


def _fail(analysis_id: int, message: str) -> None:
    """Record the failure; if even that is impossible (database gone), the sweep recovers the analysis."""
    try:
        mark_failed(analysis_id, message)
    except DatabaseError as exc:
        logger.error("Analysis %s: could not record the failure %r: %s", analysis_id, message, exc)


@shared_task(
    bind=True,
    name="jewel_vision.analyze_image",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def analyze_image(self, analysis_id: int, claim: int | None = None) -> str:
    """Analyse one image, with up to ``ANALYSIS_BATCH_SIZE - 1`` other pending ones as one batch.

    Redelivered if the worker dies mid-task (acks_late). The batch is claimed in the
    database, so the other photos' own messages find them done (see
    :mod:`jewel_vision.analysis.run` for why batches are made on the worker).
    ``claim`` is set only by this task's own retries: the attempt it had claimed.
    Time limits come from ``TASK_SOFT_TIME_LIMIT``/``TASK_TIME_LIMIT`` (set per
    message by :func:`jewel_vision.analysis.start.enqueue`; they need the prefork pool).
    """
    state: dict = {}
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    try:
        return run_analysis(analysis_id, redelivered=redelivered, claim=claim, state=state, batch_size=None)
    except SoftTimeLimitExceeded:
        limit = self.request.timelimit[1] if self.request.timelimit else None
        limit = limit or jv_settings.TASK_SOFT_TIME_LIMIT
        _fail(analysis_id, f"stopped: the analysis took longer than the time limit of {limit} s (TASK_SOFT_TIME_LIMIT)")
        logger.warning("Analysis %s stopped at the soft time limit (%s s)", analysis_id, limit)
        return "failed"
    except TRANSIENT_ERRORS as exc:
        retries = self.request.retries
        if retries >= jv_settings.MAX_RETRIES:
            _fail(analysis_id, f"transient error persisted after {retries} retries: {type(exc).__name__}: {exc}")
            raise
        countdown = min(2**retries, 300)
        logger.warning("Analysis %s hit %r; retrying in %ss", analysis_id, exc, countdown)
        # The retry carries on with the attempt this run claimed (if it got that far).
        raise self.retry(
            exc=exc,
            countdown=countdown,
            max_retries=jv_settings.MAX_RETRIES,
            kwargs={"analysis_id": analysis_id, "claim": state.get("attempt", claim)},
        )
    except DatabaseError as exc:
        # Not transient (a constraint, a value the database refuses): retrying cannot help.
        _fail(analysis_id, failure_message(exc))
        raise
    except Exception as exc:
        _fail(analysis_id, failure_message(exc))
        raise


@shared_task(name="jewel_vision.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    """Periodic sweep: re-enqueue analyses never sent, lost, or orphaned by a dead worker."""
    sent, failed = requeue()
    if sent or failed:
        logger.info("Requeued %s stale analyses (%s could not be sent)", sent, failed)
    return sent


SWEEP_ENTRY = "jewel-vision-sweep"


def beat_schedule() -> dict:
    """The ``beat_schedule`` entry of the periodic sweep, every ``SWEEP_INTERVAL`` seconds.

    A shop's Celery app adds it to its schedule (``worker/celery.py`` does)::

        app.conf.beat_schedule = {**beat_schedule(), **app.conf.beat_schedule}
    """
    return {SWEEP_ENTRY: {"task": "jewel_vision.requeue_stale", "schedule": float(jv_settings.SWEEP_INTERVAL)}}


@shared_task(name="jewel_vision.backfill_step", ignore_result=True, acks_late=True)
def backfill_step(run_id: int) -> str:
    """One step of a backfill started from the admin; it schedules the next until the run ends.

    Steps never wait on the analyses they sent (a worker with one process would wait on
    itself): each enqueues what the run's rate and in-flight limits allow and returns.
    """
    run = backfill.step(run_id)
    if run.status == BackfillRun.Status.RUNNING:
        backfill.send_step(run_id)
    return run.status


@shared_task(name="jewel_vision.analyse_search_photo", acks_late=False, ignore_result=False)
def analyse_search_photo(photo: str) -> dict:
    """Analyse a shopper's photo for search by photo (``INTERACTIVE_QUEUE``); returns ``AnalysisResult.to_dict()``.

    Not acknowledged late and never retried: the shopper's request has a timeout, and the
    message expires with it. Masks are left out of the result (search needs none).
    """
    return similarity.analyse_here(photos.from_message(photo)).to_dict(include_masks=False)


@shared_task(name="jewel_vision.train_facet_head", ignore_result=True, acks_late=True)
def train_facet_head(head_id: int) -> str:
    """Train a facet head staff asked for in the admin (on the stored embeddings; seconds)."""
    return heads.train(head_id).status
