"""An analysis of one photo and what the pipeline found in it.

The shop's models are not known when these migrations are written, so images are
referenced by content type + primary key (as text, so UUID keys work too).
"""

from __future__ import annotations

import numpy as np
from django.contrib.contenttypes.models import ContentType
from django.db import models
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
            # Covers the back office's passes over every analysis (coverage, analyses per day,
            # the review queue's photos per product): no table rows (their JSON) read.
            models.Index(fields=["image_type", "status", "is_current", "product_id", "finished_at"],
                         name="jv_analysis_summary_idx"),
        ]

    def __str__(self) -> str:
        return f"Analysis {self.pk} of image {self.image_id} ({self.status})"


class StoredDetection(models.Model):
    """A piece or stone the detector found (the stored form of ``vision.types.Detection``)."""

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


class StoredRegion(models.Model):
    """A mask (item, metal, stone) as a PNG (the stored form of ``vision.types.Region``)."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="regions")
    label = models.CharField(max_length=64)
    mask_png = models.BinaryField()
    area_fraction = models.FloatField()
    model = models.CharField(max_length=100)
    model_version = models.CharField(max_length=100)


class StoredText(models.Model):
    """A hallmark or engraving read by OCR (the stored form of ``vision.types.TextFinding``)."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="texts")
    raw = models.CharField(max_length=200)
    normalised = models.CharField(max_length=64, blank=True, default="")
    metal = models.CharField(max_length=32, blank=True, default="")
    purity = models.FloatField(null=True, blank=True)
    box = models.JSONField(null=True, blank=True)
    score = models.FloatField()
    engine = models.CharField(max_length=64)


class StoredEmbedding(models.Model):
    """The photo's embedding for similar items (the stored form of ``vision.types.Embedding``)."""

    analysis = models.OneToOneField(Analysis, on_delete=models.CASCADE, related_name="embedding")
    model_version = models.CharField(max_length=200)
    dim = models.PositiveIntegerField()
    # float32 little-endian, L2-normalised.
    vector = models.BinaryField()

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype="<f4")
