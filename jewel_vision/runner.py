"""Running one analysis: the body of the Celery task, callable without Celery."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis
from jewel_vision.results import mark_failed, store_result

logger = logging.getLogger(__name__)


def get_configured_pipeline() -> Any:
    """The per-process pipeline for the configured options (models load lazily)."""
    from jewel_vision.vision.pipeline import PipelineConfig, get_pipeline

    return get_pipeline(PipelineConfig(**jv_settings.PIPELINE))


def _claim(analysis_id: int) -> Analysis | None:
    """Mark the analysis running, or return None when there is nothing to do."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().filter(pk=analysis_id).first()
        if analysis is None or analysis.status in (Analysis.Status.DONE, Analysis.Status.FAILED):
            return None
        if not analysis.is_current:
            # The image changed since this was enqueued; its newer analysis does the work.
            return None
        if analysis.attempts >= jv_settings.MAX_ATTEMPTS:
            mark_failed(analysis_id, f"gave up after {analysis.attempts} attempts (worker lost or timed out each time)")
            return None
        analysis.status = Analysis.Status.RUNNING
        analysis.attempts += 1
        analysis.started_at = timezone.now()
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


def run_analysis(analysis_id: int, pipeline: Any = None) -> str:
    """Run and store one analysis. Returns what happened: done, failed or skipped.

    Transient errors (database, storage) propagate so the task can retry; a
    photo that cannot be decoded ends the analysis as failed with a message.
    """
    from jewel_vision.vision.types import ImageDecodeError

    analysis = _claim(analysis_id)
    if analysis is None:
        return "skipped"
    try:
        data = read_image_bytes(analysis)
    except FileNotFoundError as exc:
        mark_failed(analysis_id, f"the photo's file is missing from storage: {exc}")
        return "failed"
    if data is None:
        Analysis.objects.filter(pk=analysis_id).delete()
        return "skipped"
    pipeline = pipeline or get_configured_pipeline()
    try:
        result = pipeline.run(data)
    except ImageDecodeError as exc:
        mark_failed(analysis_id, f"cannot analyse this photo: {exc}")
        logger.info("Analysis %s failed: %s", analysis_id, exc)
        return "failed"
    store_result(analysis_id, result)
    return "done"
