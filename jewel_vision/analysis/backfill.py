"""Backfill: analyse an existing catalogue, a rate-limited step at a time, resumable.

A :class:`~jewel_vision.models.BackfillRun` selects photos (all, never analysed, of
untagged products, failed, analysed by an older pipeline version, or of chosen
products) and walks them in primary-key order. Each :func:`step` enqueues at most
``rate`` x :data:`STEP_SECONDS` analyses and never lets more than ``max_in_flight``
of its analyses wait or run at once, so the workers' queue is never flooded. The
position reached is saved after every photo: a run that was interrupted (the
terminal closed, the worker killed) resumes where it stopped, and a photo it had
already sent is not analysed twice (:func:`jewel_vision.analysis.start.analyze`
analyses the same content under the same pipeline version once).

``jewel-vision backfill`` (and ``manage.py jewel_vision_backfill``) step a run in the
terminal with a progress bar; the admin's backfill steps it on the workers with the
Celery task ``jewel_vision.backfill_step``, which reschedules itself until the run
ends, and shows its progress live. Both end with the same summary.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from jewel_vision.analysis.start import analyze
from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis, BackfillRun
from jewel_vision.registry import (
    get_image_model,
    get_product_model,
    image_content_type,
    pipeline_version,
)
from jewel_vision.services import catalogue

logger = logging.getLogger(__name__)
Selection = BackfillRun.Selection
STEP_TASK = "jewel_vision.backfill_step"
#: Seconds between two steps of a run.
STEP_SECONDS = 1.0
#: Seconds between two looks at a run whose photos are all sent, waiting for the last ones.
WAIT_SECONDS = 0.2
#: Selections that analyse again photos whose content and pipeline version did not change.
FORCED = {Selection.ALL, Selection.FAILED, Selection.PRODUCTS}
UNFINISHED = (Analysis.Status.PENDING, Analysis.Status.RUNNING)


def selected_images(run: BackfillRun) -> QuerySet:
    """The photos ``run`` selects, in primary-key order (not yet limited by its cursor)."""
    images = catalogue.with_text_pk(get_image_model()._default_manager.all())
    fk = get_image_model()._meta.get_field(jv_settings.PRODUCT_FIELD)
    current = Analysis.objects.filter(image_type=image_content_type(), is_current=True)
    pk = catalogue.PK_ALIAS
    if run.selection == Selection.NEW:
        images = images.exclude(**{f"{pk}__in": current.values("image_id")})
    elif run.selection == Selection.UNTAGGED:
        untagged = catalogue.filter_state(get_product_model()._default_manager.all(), "untagged")
        images = images.filter(**{f"{fk.name}__in": untagged.values("pk")})
    elif run.selection == Selection.FAILED:
        images = images.filter(**{f"{pk}__in": current.filter(status=Analysis.Status.FAILED).values("image_id")})
    elif run.selection == Selection.OUTDATED:
        images = images.filter(**{f"{pk}__in": current.exclude(pipeline_version=run.pipeline_version).values("image_id")})
    elif run.selection == Selection.PRODUCTS:
        images = images.filter(**{f"{fk.attname}__in": run.product_ids})
    return images.order_by("pk")


def start(
    selection: str,
    *,
    user: Any = None,
    product_ids: list[str] | None = None,
    rate: float = 10.0,
    max_in_flight: int = 32,
    on_workers: bool = True,
) -> BackfillRun:
    """Create a run; ``on_workers``: its steps run as Celery tasks (the admin), else the caller steps it."""
    run = BackfillRun(
        selection=selection, product_ids=list(product_ids or []), pipeline_version=pipeline_version(),
        rate=rate, max_in_flight=max_in_flight, started_by=user if getattr(user, "pk", None) else None,
    )
    run.total = selected_images(run).count()
    run.save()
    if on_workers:
        transaction.on_commit(lambda: send_step(run.pk, countdown=0))
    return run


def send_step(run_id: int, countdown: float = STEP_SECONDS) -> bool:
    """Schedule the next step of a run on the workers; a broker outage only stalls it (resume later)."""
    try:
        current_app.send_task(STEP_TASK, args=[run_id], queue=jv_settings.QUEUE, countdown=countdown)
    except Exception:  # noqa: BLE001 - the run stays resumable from the admin or the terminal
        return False
    return True


def latest_unfinished(selection: str) -> BackfillRun | None:
    return BackfillRun.objects.filter(
        status=BackfillRun.Status.RUNNING, selection=selection, pipeline_version=pipeline_version()
    ).exclude(selection=Selection.PRODUCTS).order_by("-pk").first()


def counts(run: BackfillRun) -> dict[str, int]:
    """The run's analyses by status (one query)."""
    rows = run.analyses.order_by().values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def progress(run: BackfillRun) -> dict:
    """Where a run stands: totals, the fraction finished, and its summary once it has ended."""
    by_status = counts(run)
    done = by_status.get(Analysis.Status.DONE, 0)
    failed = by_status.get(Analysis.Status.FAILED, 0)
    finished = run.skipped + run.unreadable + done + failed
    total = max(run.total, finished, run.enqueued + run.skipped + run.unreadable)
    return {
        "id": run.pk,
        "status": run.status,
        "selection": run.selection,
        "total": total,
        "finished": finished,
        "fraction": 1.0 if run.status == BackfillRun.Status.DONE else (finished / total if total else 0.0),
        "enqueued": run.enqueued,
        "skipped": run.skipped,
        "unreadable": run.unreadable,
        "done": done,
        "failed": failed,
        "in_flight": sum(by_status.get(s, 0) for s in UNFINISHED),
        "summary": run.summary,
    }


def step(run_id: int) -> BackfillRun:
    """Enqueue the next photos of a run, within its rate and in-flight limits; end it when all are finished."""
    with transaction.atomic():
        run = BackfillRun.objects.select_for_update().get(pk=run_id)
        if run.status != BackfillRun.Status.RUNNING:
            return run
        in_flight = run.analyses.filter(status__in=UNFINISHED).count()
        room = min(run.max_in_flight - in_flight, math.ceil(run.rate * STEP_SECONDS))
        if not run.exhausted and room > 0:
            images = selected_images(run)
            if run.cursor:
                images = images.filter(pk__gt=images.model._meta.pk.to_python(run.cursor))
            batch = list(images[:room])
            for image in batch:
                run.cursor = str(image.pk)
                try:
                    with transaction.atomic():
                        analysis = analyze(image, force=run.selection in FORCED)
                except OSError as exc:  # the file is missing from storage: left out, counted
                    logger.warning("Backfill %s: photo %s cannot be read: %s", run.pk, image.pk, exc)
                    run.unreadable += 1
                    continue
                if analysis is not None and analysis.status in UNFINISHED:
                    run.analyses.add(analysis)
                    run.enqueued += 1
                    in_flight += 1
                else:
                    run.skipped += 1
            run.exhausted = len(batch) < room
        if run.exhausted and in_flight == 0 and not run.analyses.filter(status__in=UNFINISHED).exists():
            finish(run)
        run.save()
    return run


def finish(run: BackfillRun) -> None:
    run.status = BackfillRun.Status.DONE
    run.finished_at = timezone.now()
    by_status = counts(run)
    seconds = (run.finished_at - run.created_at).total_seconds()
    done = by_status.get(Analysis.Status.DONE, 0)
    run.summary = {
        "selected": run.total,
        "enqueued": run.enqueued,
        "skipped": run.skipped,
        "unreadable": run.unreadable,
        "done": done,
        "failed": by_status.get(Analysis.Status.FAILED, 0),
        "seconds": round(seconds, 1),
        "photos_per_second": round(done / seconds, 3) if seconds > 0 else None,
        "pipeline_version": run.pipeline_version,
    }


def cancel(run: BackfillRun) -> None:
    """Stop enqueuing; what was sent is still analysed."""
    BackfillRun.objects.filter(pk=run.pk, status=BackfillRun.Status.RUNNING).update(
        status=BackfillRun.Status.CANCELLED, finished_at=timezone.now()
    )


def run_here(
    run: BackfillRun, *, on_progress: Callable[[dict], None] | None = None, wait: bool = True, timeout: float | None = None
) -> BackfillRun:
    """Step ``run`` from this process until it ends (``wait``) or until everything is enqueued."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        began = time.monotonic()
        run = step(run.pk)
        if on_progress:
            on_progress(progress(run))
        if run.status != BackfillRun.Status.RUNNING or (run.exhausted and not wait):
            return run
        if deadline is not None and time.monotonic() > deadline:
            return run
        pause = WAIT_SECONDS if run.exhausted else STEP_SECONDS
        time.sleep(max(0.0, pause - (time.monotonic() - began)))

