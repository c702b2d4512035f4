"""What the pipeline finds, stored against the shop's own image and product models.

The shop's models are not known when these migrations are written, so images
and products are referenced by content type + primary key (as text, so UUID
keys work too). Deleting an image or product is handled by signal handlers.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Analysis(models.Model):
    """One image × content hash × pipeline version."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    image_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    image_id = models.CharField(max_length=64)
    product_id = models.CharField(max_length=64, blank=True, default="")
    content_hash = models.CharField(max_length=64)
    pipeline_version = models.CharField(max_length=200)
    # The analysis of the image's current content; older ones are kept for history
    # but ignored when product tags are aggregated.
    is_current = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    timings_ms = models.JSONField(default=dict, blank=True)
    model_versions = models.JSONField(default=dict, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "analyses"
        constraints = [
            models.UniqueConstraint(
                fields=["image_type", "image_id", "content_hash", "pipeline_version"],
                name="jv_analysis_unique_content",
            )
        ]
        indexes = [
            models.Index(fields=["image_type", "image_id", "is_current"], name="jv_analysis_image_idx"),
            models.Index(fields=["product_id", "is_current", "status"], name="jv_analysis_product_idx"),
            models.Index(fields=["status", "updated_at"], name="jv_analysis_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Analysis {self.pk} of image {self.image_id} ({self.status})"


class Tag(models.Model):
    """One value of one facet, e.g. ``type:ring`` or ``hallmark:S925``."""

    facet = models.CharField(max_length=32)
    value = models.CharField(max_length=64)

    class Meta:
        ordering = ["facet", "value"]
        constraints = [models.UniqueConstraint(fields=["facet", "value"], name="jv_tag_unique")]

    def __str__(self) -> str:
        return f"{self.facet}:{self.value}"

    @classmethod
    def parse(cls, label: str) -> tuple[str, str]:
        facet, sep, value = label.partition(":")
        if not sep or not facet or not value:
            raise ValueError(f"tag must look like 'facet:value', got {label!r}")
        return facet.strip().lower(), value.strip()


class Prediction(models.Model):
    """A tag the pipeline gave one image in one analysis."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="predictions")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    confidence = models.FloatField()
    # The label's confidence threshold, chosen on validation data and stored with
    # the model; None when the model has none.
    threshold = models.FloatField(null=True, blank=True)
    model = models.CharField(max_length=100)
    model_version = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["analysis", "tag"], name="jv_prediction_unique")]


class ProductTag(models.Model):
    """A tag on a product, aggregated over its photos or set by a person."""

    class Source(models.TextChoices):
        MODEL = "model", "Model"
        PERSON = "person", "Person"

    class Review(models.TextChoices):
        SUGGESTED = "suggested", "Suggested"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    product_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    product_id = models.CharField(max_length=64)
    product = GenericForeignKey("product_type", "product_id")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="product_tags")
    confidence = models.FloatField(default=1.0)
    # The model's per-label threshold for this tag (the highest of its supporting
    # predictions'); None for a person's tag or a model without one.
    threshold = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MODEL)
    # "type-head@3f2a..." for a model, the username for a person.
    source_detail = models.CharField(max_length=200, blank=True, default="")
    review_state = models.CharField(max_length=10, choices=Review.choices, default=Review.SUGGESTED)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    analyses = models.ManyToManyField(Analysis, blank=True, related_name="product_tags")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product_type", "product_id", "tag"], name="jv_producttag_unique")
        ]
        indexes = [
            models.Index(fields=["product_type", "product_id"], name="jv_producttag_product_idx"),
            models.Index(fields=["tag", "review_state", "confidence"], name="jv_producttag_tag_idx"),
            models.Index(fields=["review_state", "confidence"], name="jv_producttag_review_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tag} on product {self.product_id} ({self.confidence:.2f}, {self.review_state})"

    @property
    def is_human_decision(self) -> bool:
        """A person made or reviewed this tag: models must not change it."""
        return self.source == self.Source.PERSON or self.review_state != self.Review.SUGGESTED

    # Visibility, the one definition (``is_visible`` in Python, ``visible_q`` in the
    # database): a tag is shown to shoppers when a person accepted it, or when it is
    # a model suggestion whose confidence is at least its display threshold, which
    # is the shop's FACET_THRESHOLDS override for the facet if it set one, else the
    # tag's own per-label ``threshold``, else DISPLAY_THRESHOLD. Rejected: never.

    @property
    def display_threshold(self) -> float:
        """Confidence this tag needs to be shown (see ``jv_settings.display_threshold``)."""
        from jewel_vision.conf import jv_settings

        return jv_settings.display_threshold(self.tag.facet, self.threshold)

    @property
    def is_visible(self) -> bool:
        """Shown to shoppers: accepted, or a model suggestion at or above its display threshold.

        A property, like its neighbours: ``if tag.is_visible:`` (it was once a method, so
        that test was always true).
        """
        return self.shown(self.review_state, self.confidence, self.tag.facet, self.threshold)

    @classmethod
    def shown(cls, review_state: str, confidence: float, facet: str, threshold: float | None) -> bool:
        """``is_visible`` for values read with ``values_list``, no instance needed."""
        from jewel_vision.conf import jv_settings

        if review_state == cls.Review.REJECTED:
            return False
        return review_state == cls.Review.ACCEPTED or confidence >= jv_settings.display_threshold(facet, threshold)

    @classmethod
    def visible_q(cls, facet: str | None = None) -> Q:
        """``is_visible`` as a filter on ProductTag rows (SQLite and PostgreSQL alike).

        With ``facet`` the rows must be filtered to that facet by the caller
        (the filter then needs no join to ``Tag``); without it any facet.
        """
        from jewel_vision.conf import jv_settings

        overrides = {f: float(t) for f, t in jv_settings.FACET_THRESHOLDS.items()}
        by_label = Q(threshold__isnull=False, confidence__gte=F("threshold")) | Q(
            threshold__isnull=True, confidence__gte=float(jv_settings.DISPLAY_THRESHOLD)
        )
        if facet is not None:
            confident = Q(confidence__gte=overrides[facet]) if facet in overrides else by_label
        elif overrides:
            confident = ~Q(tag__facet__in=list(overrides)) & by_label
            for name, value in overrides.items():
                confident |= Q(tag__facet=name, confidence__gte=value)
        else:
            confident = by_label
        return ~Q(review_state=cls.Review.REJECTED) & (Q(review_state=cls.Review.ACCEPTED) | confident)


class Detection(models.Model):
    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="detections")
    label = models.CharField(max_length=64)
    # Box corners normalised to 0..1 of the (EXIF-rotated) image.
    x0 = models.FloatField()
    y0 = models.FloatField()
    x1 = models.FloatField()
    y1 = models.FloatField()
    score = models.FloatField()
    model = models.CharField(max_length=100)
    model_version = models.CharField(max_length=100)

    class Meta:
        indexes = [models.Index(fields=["label", "score"], name="jv_detection_label_idx")]


class Region(models.Model):
    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="regions")
    label = models.CharField(max_length=64)
    mask_png = models.BinaryField()
    area_fraction = models.FloatField()
    model = models.CharField(max_length=100)
    model_version = models.CharField(max_length=100)


class TextFinding(models.Model):
    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="texts")
    raw = models.CharField(max_length=200)
    normalised = models.CharField(max_length=64, blank=True, default="")
    metal = models.CharField(max_length=32, blank=True, default="")
    purity = models.FloatField(null=True, blank=True)
    box = models.JSONField(null=True, blank=True)
    score = models.FloatField()
    engine = models.CharField(max_length=64)


class Embedding(models.Model):
    analysis = models.OneToOneField(Analysis, on_delete=models.CASCADE, related_name="embedding")
    model_version = models.CharField(max_length=200)
    dim = models.PositiveIntegerField()
    # float32 little-endian, L2-normalised.
    vector = models.BinaryField()

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype="<f4")


class ProductLock(models.Model):
    """One row per product, locked (``SELECT ... FOR UPDATE``) by whoever changes its tags.

    Aggregation (a worker) and review (a person) both read a product's tags and then
    write them; without a common lock, a model run could delete a tag a person had
    just accepted, and two photos of one product finishing together could both
    create the same tag. See :func:`jewel_vision.locking.lock_product`.
    """

    product_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    product_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product_type", "product_id"], name="jv_productlock_unique")
        ]


class ProductView(models.Model):
    """A signed-in customer looked at a product (for recommendations over time)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    product_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    product_id = models.CharField(max_length=64)
    viewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-viewed_at"], name="jv_productview_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} viewed product {self.product_id}"


# The vector index's tables (jewel_vision/index/models.py).
from jewel_vision.index.models import IndexChange, VectorItem  # noqa: E402,F401
