"""Running analyses: the body of the Celery task, callable without Celery.

A worker runs up to ``ANALYSIS_BATCH_SIZE`` photos as one batch (issue 12, item 3): the
task for one analysis claims it, then claims in the same stroke up to B-1 other pending
analyses straight from the database (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL,
one conditional ``UPDATE`` on SQLite), runs them through :meth:`Pipeline.run_batch` and
stores each result on its own. Why a worker-side batcher rather than ``celery-batches``:

* messages stay one per photo, so uploads, ``requeue``, the sweep and the backfill send
  what they sent before, and a worker with ``ANALYSIS_BATCH_SIZE = 1`` behaves as before;
* a batch starts at once with what is pending: ``celery-batches`` (0.11, checked) buffers
  messages until ``flush_every`` have arrived or ``flush_interval`` seconds have passed,
  so a lone upload waits, and its buffer is capped by the prefetch count; its task takes a
  list of requests, so the per-photo retry with backoff, the redelivery flag and the
  claim carried by a retry would have to be rebuilt around it (it does acknowledge
  acks-late messages after the batch returns);
* acks-late keeps its meaning: the message that started the batch is acknowledged after
  the batch is stored;
* the claim is the database row, as for a single photo: a photo already analysed, or
  claimed by another worker, is never taken; its own message later finds it done and is
  skipped in a few milliseconds;
* a batch is marked by its claim time (``started_at``, the same for all its photos). A
  worker killed mid-batch leaves them ``running``: the redelivered message of any of them
  takes the whole lost batch over, and the sweep (``requeue_stale``) sends them again
  after ``STUCK_AFTER`` whatever happens to the messages;
* one photo fails alone: a photo that cannot be decoded or stored ends failed with its
  reason, the others are stored; if the batched run itself raises, each photo is run
  alone. On a transient error or the time limit the photos not yet stored are released
  (pending again, sent again) and the task retries or fails its own photo only.

The batch runs under the time limits of the message that started it, so keep
``ANALYSIS_BATCH_SIZE`` x (seconds per photo) well below ``TASK_SOFT_TIME_LIMIT``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.analysis import start
from jewel_vision.analysis.soft_limit import soft_limit_held
from jewel_vision.analysis.store import mark_failed, store_result
from jewel_vision.models import Analysis
from jewel_vision.registry import configured_pipeline
from jewel_vision.vision.types import AnalysisResult, ImageDecodeError

logger = logging.getLogger(__name__)


#: Errors worth a retry of the task: the database or the storage hiccupped.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError, OSError)


def failure_message(exc: BaseException) -> str:
    """What an analysis that ended on ``exc`` (not transient) says: the true reason."""
    kind = "database error" if isinstance(exc, DatabaseError) else "internal error"
    return f"{kind}: {type(exc).__name__}: {exc}"


def batch_size_of(pipeline: Any) -> int:
    """``ANALYSIS_BATCH_SIZE``, or when None: 16 photos on a CUDA device, 8 on the CPU."""
    size = jv_settings.ANALYSIS_BATCH_SIZE
    if size is None:
        embedder = getattr(pipeline, "embedder", None)
        size = 16 if str(getattr(embedder, "device", "cpu")).startswith("cuda") else 8
    return max(1, int(size))


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
    Taking over a lost run also takes over the rest of its lost batch (the analyses
    still running with the same ``started_at``): they become this run's batch-mates.
    """
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().filter(pk=analysis_id).first()
        if analysis is None or analysis.status in (Analysis.Status.DONE, Analysis.Status.FAILED):
            return None
        if not analysis.is_current:
            # The image changed since this was enqueued; its newer analysis does the work.
            return None
        now = timezone.now()
        lost_batch: datetime | None = None
        if analysis.status == Analysis.Status.RUNNING:
            if claim is not None and claim == analysis.attempts:
                analysis.started_at = now
                analysis.save(update_fields=["started_at", "updated_at"])
                return analysis
            lost = analysis.started_at is None or analysis.started_at < now - timedelta(seconds=jv_settings.STUCK_AFTER)
            if not (redelivered or lost):
                logger.info("Analysis %s is already running (attempt %s); duplicate delivery skipped", analysis_id, analysis.attempts)
                return None
            lost_batch = analysis.started_at
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
        if lost_batch is not None:
            Analysis.objects.filter(
                status=Analysis.Status.RUNNING, started_at=lost_batch, attempts__lt=jv_settings.MAX_ATTEMPTS
            ).exclude(pk=analysis_id).update(started_at=now, attempts=F("attempts") + 1, updated_at=now)
        return analysis


def _claim_batch_mates(first: Analysis, size: int) -> list[Analysis]:
    """Claim up to ``size - 1`` more pending analyses to run with ``first``, oldest first.

    The batch-mates share ``first.started_at``: that is how a batch is found again (a
    lost batch taken over by :func:`_claim`, or the photos to release). Concurrent
    workers never claim the same row: PostgreSQL skips rows another claim holds, and on
    SQLite the claim is one conditional ``UPDATE`` under the write lock.
    """
    mine = Analysis.objects.filter(status=Analysis.Status.RUNNING, started_at=first.started_at).exclude(pk=first.pk)
    with transaction.atomic():
        room = size - 1 - mine.count()
        if room > 0:
            pending = (
                Analysis.objects.select_for_update(skip_locked=True)
                .filter(status=Analysis.Status.PENDING, is_current=True, attempts__lt=jv_settings.MAX_ATTEMPTS)
                .exclude(pk=first.pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:room]
            )
            Analysis.objects.filter(pk__in=list(pending), status=Analysis.Status.PENDING).update(
                status=Analysis.Status.RUNNING, attempts=F("attempts") + 1, started_at=first.started_at,
                updated_at=timezone.now(),
            )
    return list(mine.order_by("pk"))


def _release(batch: list[Analysis], started_at: datetime | None) -> None:
    """Give the batch-mates not stored yet back to the queue: pending again, and sent again."""
    try:
        pks = [a.pk for a in batch]
        still = list(
            Analysis.objects.filter(pk__in=pks, status=Analysis.Status.RUNNING, started_at=started_at).values_list("pk", flat=True)
        )
        Analysis.objects.filter(pk__in=still, status=Analysis.Status.RUNNING).update(
            status=Analysis.Status.PENDING, started_at=None, updated_at=timezone.now()
        )
        for pk in still:
            start.enqueue(pk)
    except DatabaseError as exc:  # the sweep sends them again after STUCK_AFTER
        logger.warning("Could not release batch-mates %s: %s", [a.pk for a in batch], exc)


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


def _infer(pipeline: Any, photos: list[bytes]) -> list[AnalysisResult | Exception]:
    """Run the photos as one batch; each place holds its result or the exception it ended on.

    A photo that cannot be decoded fails alone (``run_batch(return_exceptions=True)``).
    Should the batched run itself raise (a bug one photo triggers, out of memory), each
    photo is run alone, so only the photo at fault fails. One photo alone raises as is.
    """
    if len(photos) == 1:
        try:
            return [pipeline.run(photos[0])]
        except ImageDecodeError as exc:
            return [exc]
    try:
        return list(pipeline.run_batch(photos, return_exceptions=True))
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - find the photo at fault
        logger.warning("A batch of %s photos failed (%r); running them one at a time", len(photos), exc)
    out: list[AnalysisResult | Exception] = []
    for photo in photos:
        try:
            out.append(pipeline.run(photo))
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # noqa: BLE001 - that photo alone fails
            out.append(exc)
    return out


def _run_claimed(batch: list[Analysis], pipeline: Any) -> dict[int, str]:
    """Read, analyse and store the claimed analyses; ``batch[0]`` is the task's own.

    Per photo: a missing file or a photo that cannot be decoded ends failed with its
    reason, an image deleted meanwhile drops its analysis. A batch-mate whose inference
    or store raises (not transiently) ends failed with the reason; the task's own photo
    raises instead, so the task records it as before. Transient errors propagate.
    """
    outcomes: dict[int, str] = {}
    readable: list[tuple[Analysis, bytes]] = []
    for analysis in batch:
        try:
            data = read_image_bytes(analysis)
        except FileNotFoundError as exc:
            mark_failed(analysis.pk, f"the photo's file is missing from storage: {exc}")
            outcomes[analysis.pk] = "failed"
            continue
        if data is None:
            Analysis.objects.filter(pk=analysis.pk).delete()
            outcomes[analysis.pk] = "skipped"
            continue
        readable.append((analysis, data))
    if not readable:
        return outcomes
    pipeline = pipeline or configured_pipeline()
    with soft_limit_held():  # the time limit waits for the models to load whole
        pipeline.warmup()
    results = _infer(pipeline, [data for _, data in readable])
    own = batch[0].pk
    # The task's own photo last: should it raise, its batch-mates are stored already.
    pairs = sorted(zip((a for a, _ in readable), results), key=lambda pair: pair[0].pk == own)
    for analysis, result in pairs:
        if isinstance(result, ImageDecodeError):
            mark_failed(analysis.pk, f"cannot analyse this photo: {result}")
            logger.info("Analysis %s failed: %s", analysis.pk, result)
            outcomes[analysis.pk] = "failed"
            continue
        try:
            if isinstance(result, Exception):
                raise result
            store_result(analysis.pk, result)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if analysis.pk == own:
                raise
            mark_failed(analysis.pk, failure_message(exc))
            logger.warning("Analysis %s (batch-mate of %s) failed: %r", analysis.pk, own, exc)
            outcomes[analysis.pk] = "failed"
            continue
        outcomes[analysis.pk] = "done"
    return outcomes


def run_analysis(
    analysis_id: int,
    pipeline: Any = None,
    *,
    redelivered: bool = False,
    claim: int | None = None,
    state: dict | None = None,
    batch_size: int | None = 1,
) -> str:
    """Run and store one analysis, with up to ``batch_size - 1`` pending others as one batch.

    Returns what happened to ``analysis_id``: done, failed or skipped. ``batch_size``
    None: :func:`batch_size` of the pipeline (what the Celery task uses); 1: this photo
    alone. Transient errors (database, storage) propagate so the task can retry, after
    the batch-mates not yet stored are released; a photo that cannot be decoded ends the
    analysis as failed with a message. ``redelivered`` and ``claim`` say when a running
    analysis may be taken over (see :func:`_claim`); ``state["attempt"]`` is set to the
    attempt claimed, so a task that retries can carry on with the same attempt, and
    ``state["outcomes"]`` to each photo's outcome in the batch.
    """
    analysis = _claim(analysis_id, redelivered=redelivered, claim=claim)
    if analysis is None:
        return "skipped"
    if state is not None:
        state["attempt"] = analysis.attempts
    if batch_size is None:
        pipeline = pipeline or configured_pipeline()
        batch_size = batch_size_of(pipeline)
    mates = _claim_batch_mates(analysis, batch_size)
    try:
        outcomes = _run_claimed([analysis, *mates], pipeline)
    except BaseException:
        _release(mates, analysis.started_at)
        raise
    if state is not None:
        state["outcomes"] = outcomes
    return outcomes.get(analysis_id, "skipped")
