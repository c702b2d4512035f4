"""Running one analysis: the body of the Celery task, callable without Celery."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.analysis.store import mark_failed, store_result
from jewel_vision.models import Analysis
from jewel_vision.registry import configured_pipeline
from jewel_vision.vision.types import ImageDecodeError

logger = logging.getLogger(__name__)


def _claim(analysis_id: int, *, redelivered: bool = False, claim: int | None = None) -> Analysis | None:
    """Mark the analysis running, or return None when there is nothing to do.

    A ``running`` analysis belongs to the delivery that claimed it. Another delivery may
    take it over only when that run is known to be over:

    * ``claim`` is the attempt number this task claimed before it hit a transient error
      and retried itself: the same attempt goes on (no new attempt is counted);
    * ``redelivered``: the broker redelivered this very message because the worker that
      held it died (``acks_late``), so the run it started is lost;
    * the run started more than ``STUCK_AFTER`` seconds ago: its worker is lost (a live
      one would have been stopped by ``TASK_TIME_LIMIT``, which is below it).

    Any other delivery of a running analysis is a duplicate of a live run and is skipped.
    """
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().filter(pk=analysis_id).first()
        if analysis is None or analysis.status in (Analysis.Status.DONE, Analysis.Status.FAILED):
            return None
        if not analysis.is_current:
            # The image changed since this was enqueued; its newer analysis does the work.
            return None
        now = timezone.now()
        if analysis.status == Analysis.Status.RUNNING:
            if claim is not None and claim == analysis.attempts:
                analysis.started_at = now
                analysis.save(update_fields=["started_at", "updated_at"])
                return analysis
            lost = analysis.started_at is None or analysis.started_at < now - timedelta(seconds=jv_settings.STUCK_AFTER)
            if not (redelivered or lost):
                logger.info("Analysis %s is already running (attempt %s); duplicate delivery skipped", analysis_id, analysis.attempts)
                return None
        if analysis.attempts >= jv_settings.MAX_ATTEMPTS:
            mark_failed(
                analysis_id,
                f"gave up after {analysis.attempts} attempts: each time the worker running it was lost "
                "(killed, out of memory, or stopped at the hard time limit) before it finished",
            )
            return None
        analysis.status = Analysis.Status.RUNNING
        analysis.attempts += 1
        analysis.started_at = now
        analysis.save(update_fields=["status", "attempts", "started_at", "updated_at"])
        return analysis


def read_image_bytes(analysis: Analysis) -> bytes | None:
    """The photo's bytes from the shop's storage, or None if the image is gone."""
    model = analysis.image_type.model_class()
    image = model._default_manager.filter(pk=analysis.image_id).first() if model else None
    if image is None:
        return None
    field_file = getattr(image, jv_settings.IMAGE_FIELD)
    if not field_file:
        return None
    field_file.open("rb")
    try:
        return field_file.read()
    finally:
        field_file.close()


def run_analysis(
    analysis_id: int,
    pipeline: Any = None,
    *,
    redelivered: bool = False,
    claim: int | None = None,
    state: dict | None = None,
) -> str:
    """Run and store one analysis. Returns what happened: done, failed or skipped.

    Transient errors (database, storage) propagate so the task can retry; a
    photo that cannot be decoded ends the analysis as failed with a message.
    ``redelivered`` and ``claim`` say when a running analysis may be taken over
    (see :func:`_claim`); ``state["attempt"]`` is set to the attempt claimed, so a
    task that retries can carry on with the same attempt.
    """
    analysis = _claim(analysis_id, redelivered=redelivered, claim=claim)
    if analysis is None:
        return "skipped"
    if state is not None:
        state["attempt"] = analysis.attempts
    try:
        data = read_image_bytes(analysis)
    except FileNotFoundError as exc:
        mark_failed(analysis_id, f"the photo's file is missing from storage: {exc}")
        return "failed"
    if data is None:
        Analysis.objects.filter(pk=analysis_id).delete()
        return "skipped"
    pipeline = pipeline or configured_pipeline()
    try:
        result = pipeline.run(data)
    except ImageDecodeError as exc:
        mark_failed(analysis_id, f"cannot analyse this photo: {exc}")
        logger.info("Analysis %s failed: %s", analysis_id, exc)
        return "failed"
    store_result(analysis_id, result)
    return "done"
