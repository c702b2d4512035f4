"""Tables and admin pages of the shop's back office (issue 11).

* ``Review`` and ``Inventory`` are proxies of ``ProductTag``: they hold no data of
  their own, they give the admin its pages ``/admin/jewel_vision/review/`` (the review
  queue) and ``/admin/jewel_vision/inventory/`` beside the app's other models. Their
  admins check the permissions of the real models (``ProductTag``, ``Analysis``, the
  shop's product), not the proxies'.
* ``BackfillRun``: one run of ``jewel-vision backfill`` (or of the admin's backfill):
  what it selected, how far it got (so it resumes after an interruption), and the
  analyses it enqueued (so its progress is theirs).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from jewel_vision.models.analysis import Analysis
from jewel_vision.models.tags import ProductTag


class Review(ProductTag):
    """The review queue: product tags that need a person."""

    class Meta:
        proxy = True
        verbose_name = "review queue"
        verbose_name_plural = "review queue"


class Inventory(ProductTag):
    """The inventory: the catalogue counted by its tags."""

    class Meta:
        proxy = True
        verbose_name = "inventory"
        verbose_name_plural = "inventory"


class BackfillRun(models.Model):
    """Analyse an existing catalogue, a rate-limited step at a time, resumable."""

    class Selection(models.TextChoices):
        ALL = "all", "All photos (analyse again)"
        NEW = "new", "Photos never analysed"
        UNTAGGED = "untagged", "Photos of untagged products"
        FAILED = "failed", "Photos whose analysis failed"
        OUTDATED = "outdated", "Photos analysed by an older pipeline version"
        PRODUCTS = "products", "Photos of chosen products"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    selection = models.CharField(max_length=10, choices=Selection.choices, default=Selection.NEW)
    # Selection "products": the chosen products' primary keys (as text).
    product_ids = models.JSONField(default=list, blank=True)
    pipeline_version = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # Enqueue at most this many analyses a second, and never more than this many unfinished.
    rate = models.FloatField(default=10.0)
    max_in_flight = models.PositiveIntegerField(default=32)
    total = models.PositiveIntegerField(default=0)
    # The photos (in primary-key order) up to and including this one have been handled.
    cursor = models.CharField(max_length=64, blank=True, default="")
    exhausted = models.BooleanField(default=False)
    enqueued = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # Photos whose file could not be read (missing from storage): left out, counted.
    unreadable = models.PositiveIntegerField(default=0)
    analyses = models.ManyToManyField(Analysis, blank=True, related_name="+")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "backfill"
        verbose_name_plural = "backfills"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Backfill {self.pk} ({self.get_selection_display()}, {self.status})"


class TaughtHead(models.Model):
    """A head trained by example for one facet (style ...): a candidate until a person switches it on.

    Its file is kept beside the live heads (``facet_heads_dir/candidates/<id>/``); switching
    it on copies it to ``facet_heads_dir/<facet>.npz``, where every worker picks it up, and
    re-analyses the catalogue through a backfill. The one switched on before it is kept
    (``retired``), so rolling back is one action.
    """

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready (not switched on)"
        FAILED = "failed", "Failed"
        ACTIVE = "active", "Switched on"
        RETIRED = "retired", "Switched off"

    facet = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    version = models.CharField(max_length=100, blank=True, default="")
    # teaching.train_facet's report: classes, products per value, cross-validated accuracy and confusion.
    report = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backfill = models.ForeignKey(BackfillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "taught facet head"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.facet} head {self.pk}" + (f" ({self.version})" if self.version else "")


class ModelVersion(TaughtHead):
    """The model versions page: every model of the pipeline, its card, and the taught heads."""

    class Meta:
        proxy = True
        verbose_name = "model versions"
        verbose_name_plural = "model versions"
