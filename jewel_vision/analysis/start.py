"""Where a photo's analysis starts: created on upload and sent to a worker.

:func:`analyze` makes the photo's current content the one analysed and enqueues the
Celery task ``jewel_vision.analyze_image`` (by name: this layer sits below
:mod:`jewel_vision.tasks`) when the transaction commits; :mod:`jewel_vision.analysis.run`
does the work on the worker and :mod:`jewel_vision.analysis.store` turns its result into
tags. :func:`requeue` and the periodic sweep send again what never reached a worker.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.index.sync import refresh_product, refresh_products
from jewel_vision.models import Analysis, ProductLock, ProductTag
from jewel_vision.registry import image_content_type, pipeline_version, product_content_type
from jewel_vision.services.aggregation import aggregate_product

logger = logging.getLogger(__name__)

#: The Celery task that runs one analysis (:func:`jewel_vision.tasks.analyze_image`).
ANALYZE_TASK = "jewel_vision.analyze_image"


def hash_file(field_file: Any) -> str:
    digest = hashlib.sha256()
    field_file.open("rb")
    try:
        for chunk in field_file.chunks():
            digest.update(chunk)
    finally:
        field_file.close()
    return digest.hexdigest()


def product_id_of(image: Any) -> str:
    field = image._meta.get_field(jv_settings.PRODUCT_FIELD)
    value = getattr(image, field.attname)
    return "" if value is None else str(value)


def analyze(image: Any, *, force: bool = False) -> Analysis | None:
    """Make ``image``'s current content the one analysed, enqueueing work if needed.

    The same content under the same pipeline version is not analysed twice,
    unless ``force``. The task is enqueued when the surrounding transaction
    commits, so the worker never sees rows that may still roll back.
    """
    field_file = getattr(image, jv_settings.IMAGE_FIELD)
    if not field_file:
        return None
    digest = hash_file(field_file)
    ctype = image_content_type()
    product_id = product_id_of(image)
    with transaction.atomic():
        analysis, created = Analysis.objects.get_or_create(
            image_type=ctype,
            image_id=str(image.pk),
            content_hash=digest,
            pipeline_version=pipeline_version(),
            defaults={"product_id": product_id},
        )
        older = Analysis.objects.filter(image_type=ctype, image_id=str(image.pk), is_current=True).exclude(
            pk=analysis.pk
        )
        superseded = older.exists()
        older.update(is_current=False)
        moved_from = analysis.product_id if analysis.product_id != product_id else None
        if moved_from is not None or not analysis.is_current:
            analysis.product_id = product_id
            analysis.is_current = True
            analysis.save(update_fields=["product_id", "is_current", "updated_at"])
        needs_run = created or (force and analysis.status != Analysis.Status.RUNNING)
        if needs_run and not created:
            analysis.status = Analysis.Status.PENDING
            analysis.attempts = 0
            analysis.error = ""
            analysis.save(update_fields=["status", "attempts", "error", "updated_at"])
        if needs_run:
            pk = analysis.pk
            transaction.on_commit(lambda: enqueue(pk))
        # Products whose tags changed without a new run: the image moved, or an
        # earlier analysis of the same content became current again.
        stale_products = {p for p in (moved_from,) if p}
        if (superseded or moved_from) and analysis.status == Analysis.Status.DONE:
            stale_products.add(product_id)
        for pid in stale_products:
            transaction.on_commit(lambda pid=pid: refresh_product_tags(pid))
    return analysis


def refresh_product_tags(product_id: str) -> None:
    with transaction.atomic():
        aggregate_product(product_id)


def enqueue(analysis_id: int) -> bool:
    """Send the analysis to the worker queue; a broker outage only logs.

    The analysis stays pending and the periodic sweep (or ``jewel-vision
    requeue``) sends it again once the broker is back. A run older than
    ``STUCK_AFTER`` (its worker was lost) is released first: the analysis is
    pending again with no start time, so the sweep waits ``STUCK_AFTER`` before
    sending it once more instead of re-sending it on every pass.
    Each message carries the task time limits (``TASK_SOFT_TIME_LIMIT``,
    ``TASK_TIME_LIMIT``).
    """
    cutoff = timezone.now() - timedelta(seconds=jv_settings.STUCK_AFTER)
    Analysis.objects.filter(pk=analysis_id, status=Analysis.Status.RUNNING, started_at__lt=cutoff).update(
        status=Analysis.Status.PENDING, started_at=None, updated_at=timezone.now()
    )
    try:
        current_app.send_task(
            ANALYZE_TASK,
            args=[analysis_id],
            queue=jv_settings.QUEUE,
            soft_time_limit=jv_settings.TASK_SOFT_TIME_LIMIT,
            time_limit=jv_settings.TASK_TIME_LIMIT,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure must not lose the upload
        logger.warning("Could not enqueue analysis %s (it stays pending): %s", analysis_id, exc)
        return False
    Analysis.objects.filter(pk=analysis_id).update(enqueued_at=timezone.now())
    return True


def stale_analyses(now: Any = None) -> list[int]:
    """Analyses that should be running but are not: never sent, lost, or orphaned by a dead worker."""
    now = now or timezone.now()
    never_sent = Q(
        status=Analysis.Status.PENDING,
        enqueued_at__isnull=True,
        created_at__lt=now - timedelta(seconds=jv_settings.PENDING_REQUEUE_AFTER),
    )
    lost = Q(
        status=Analysis.Status.PENDING,
        enqueued_at__lt=now - timedelta(seconds=jv_settings.STUCK_AFTER),
    )
    stuck = Q(status=Analysis.Status.RUNNING, started_at__lt=now - timedelta(seconds=jv_settings.STUCK_AFTER))
    return list(
        Analysis.objects.filter(never_sent | lost | stuck, is_current=True).order_by("pk").values_list("pk", flat=True)
    )


def requeue(analysis_ids: list[int] | None = None) -> tuple[int, int]:
    """Enqueue the given (or all stale) analyses; returns (sent, failed)."""
    ids = stale_analyses() if analysis_ids is None else analysis_ids
    sent = sum(1 for pk in ids if enqueue(pk))
    return sent, len(ids) - sent


def forget_image(image: Any) -> None:
    """Delete an image's analyses and re-aggregate the products they fed."""
    analyses = Analysis.objects.filter(image_type=image_content_type(), image_id=str(image.pk))
    product_ids = set(analyses.values_list("product_id", flat=True))
    analyses.delete()
    for pid in product_ids:
        if pid:
            refresh_product_tags(pid)
    refresh_products(product_ids)  # drop the photo from the vector index


def forget_product(product: Any) -> None:
    pid = str(product.pk)
    ProductTag.objects.filter(product_type=product_content_type(), product_id=pid).delete()
    ProductLock.objects.filter(product_type=product_content_type(), product_id=pid).delete()
    Analysis.objects.filter(image_type=image_content_type(), product_id=pid).delete()
    refresh_product(pid)  # the product is gone: drop its photos from the vector index
