"""Teaching a facet from the admin, and switching taught heads on, off and back.

1. Staff label products from the review queue's labelling view (``style:vintage`` ...,
   a person's accepted tags: :func:`label`).
2. :func:`start_training` records a :class:`~jewel_vision.models.TaughtHead` and a worker
   trains it (task ``jewel_vision.train_facet_head`` -> :func:`train`): a head on the
   stored embeddings, cross-validated (:func:`jewel_vision.services.teaching.train_facet`),
   written beside the live heads as a candidate. Its accuracy and confusion per value
   are in its report before anyone switches it on.
   ``type`` is adapted, not taught: the built-in type head fine-tuned on the products whose
   type tags staff accepted or corrected; ``type.npz`` then replaces the built-in head.
3. :func:`activate` copies it to ``facet_heads_dir/<facet>.npz``, where every worker picks
   it up (the pipeline version changes with it), and re-tags the catalogue through a
   backfill of the photos analysed by the previous version. :func:`roll_back` switches
   the facet back to the head that was on before (or off), the same way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from jewel_vision.analysis import backfill
from jewel_vision.conf import jv_settings
from jewel_vision.models import BackfillRun, ProductTag, TaughtHead
from jewel_vision.registry import get_product_model, product_content_type
from jewel_vision.services import review
from jewel_vision.services.teaching import TeachingError, train_facet

TRAIN_TASK = "jewel_vision.train_facet_head"
BUILT_IN = frozenset({"type", "metal", "metal_tone", "stone", "hallmark", "purity", "colour", "color", "shape", "texture"})
#: Built-in facets whose head a shop may adapt to its photos from its reviewed tags
#: (``type``: staff accept and correct type tags in the review queue; ``type.npz`` then replaces the built-in head).
ADAPTABLE = frozenset({"type"})


def can_train(facet: str) -> bool:
    """A facet staff may teach (not built in) or adapt (built in, in :data:`ADAPTABLE`)."""
    return bool(facet) and (facet not in BUILT_IN or facet in ADAPTABLE)


def heads_dir() -> Path:
    folder = jv_settings.PIPELINE.get("facet_heads_dir")
    if not folder:
        raise TeachingError("set JEWEL_VISION['PIPELINE']['facet_heads_dir'] to the folder the workers read heads from")
    return Path(folder)


def label(product_id: str, facet: str, value: str, user: Any = None) -> ProductTag:
    """A person says ``product`` is ``facet:value``: their tag, accepted; their other values of the facet rejected."""
    facet, value = facet.strip().lower(), value.strip()
    product = get_product_model()._default_manager.get(pk=product_id)
    others = ProductTag.objects.filter(
        product_type=product_content_type(), product_id=str(product.pk), tag__facet=facet,
        review_state=ProductTag.Review.ACCEPTED,
    ).exclude(tag__value=value).select_related("tag")
    with transaction.atomic():
        for other in others:
            review.reject(other, user)
        return review.add(product, f"{facet}:{value}", user)


def start_training(facet: str, user: Any = None) -> TaughtHead:
    facet = facet.strip().lower()
    if not can_train(facet):
        raise TeachingError(f"'{facet}' is predicted by a built-in model; teach new facets such as style, or adapt type")
    heads_dir()
    head = TaughtHead.objects.create(facet=facet, created_by=user if getattr(user, "pk", None) else None)
    transaction.on_commit(lambda: current_app.send_task(TRAIN_TASK, args=[head.pk], queue=jv_settings.QUEUE))
    return head


def train(head_id: int) -> TaughtHead:
    """Train a candidate head (on a worker); ``ready`` with its report, or ``failed`` saying why."""
    head = TaughtHead.objects.get(pk=head_id)
    if head.status != TaughtHead.Status.TRAINING:
        return head
    try:
        report = train_facet(head.facet, heads_dir() / "candidates" / str(head.pk))
    except TeachingError as exc:
        head.status, head.error = TaughtHead.Status.FAILED, str(exc)
    else:
        head.status, head.report, head.version, head.path = (
            TaughtHead.Status.READY, report, report["version"], report["path"],
        )
    head.save()
    return head


def _live_path(facet: str) -> Path:
    return heads_dir() / f"{facet}.npz"


def _install(head: TaughtHead | None, facet: str) -> None:
    """Make ``head`` the live head of ``facet`` (None: no head), replacing the file atomically."""
    live = _live_path(facet)
    live.parent.mkdir(parents=True, exist_ok=True)
    if head is None:
        live.unlink(missing_ok=True)
        return
    tmp = live.with_name(f".{facet}.{os.getpid()}.tmp")  # not *.npz: the pipeline never reads it half-written
    shutil.copyfile(head.path, tmp)
    os.replace(tmp, live)


def _switch(head: TaughtHead | None, facet: str, user: Any, *, rolling_back: bool = False) -> BackfillRun:
    """Install ``head`` for ``facet`` and re-analyse the photos analysed under the previous version.

    Rolling back keeps the restored head's first switch-on time, so the heads form a
    history: rolling back again goes to the one before it, and finally to none.
    """
    with transaction.atomic():
        TaughtHead.objects.filter(facet=facet, status=TaughtHead.Status.ACTIVE).update(status=TaughtHead.Status.RETIRED)
        _install(head, facet)
        run = backfill.start(backfill.Selection.OUTDATED, user=user)
        if head is not None:
            head.status = TaughtHead.Status.ACTIVE
            if not rolling_back or head.activated_at is None:
                head.activated_at = timezone.now()
                head.activated_by = user if getattr(user, "pk", None) else None
            head.backfill = run
            head.save()
    return run


def activate(head: TaughtHead, user: Any = None) -> BackfillRun:
    """Switch ``head`` on (it must be trained); the catalogue is re-tagged by a backfill."""
    if head.status not in (TaughtHead.Status.READY, TaughtHead.Status.RETIRED) or not head.path:
        raise TeachingError(f"{head} cannot be switched on: it is {head.get_status_display().lower()}")
    return _switch(head, head.facet, user)


def previous(facet: str) -> TaughtHead | None:
    """The head that was on before the current one (None: the facet had none)."""
    active = TaughtHead.objects.filter(facet=facet, status=TaughtHead.Status.ACTIVE).first()
    earlier = TaughtHead.objects.filter(facet=facet, status=TaughtHead.Status.RETIRED, activated_at__isnull=False)
    if active is not None and active.activated_at:
        earlier = earlier.filter(activated_at__lt=active.activated_at)
    return earlier.order_by("-activated_at").first()


def roll_back(facet: str, user: Any = None) -> BackfillRun:
    """One action: the facet's head goes back to the one on before (or off); the catalogue is re-tagged."""
    return _switch(previous(facet), facet, user, rolling_back=True)
