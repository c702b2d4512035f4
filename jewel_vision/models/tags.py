"""Tags: the vocabulary, what each analysis predicted, and the tags on products.

A product tag is aggregated over the product's photos (a model's suggestion) or set
by a person; who made it, and a person's review, are kept on the row. When a model
tag is shown to shoppers is defined here once: :func:`display_threshold`,
``ProductTag.is_visible`` and ``ProductTag.visible_q``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.models.analysis import Analysis


def display_threshold(facet: str, label_threshold: float | None = None) -> float:
    """Confidence a model tag of ``facet`` needs to be shown to shoppers.

    The shop's ``FACET_THRESHOLDS`` override for the facet if it set one, else the
    model's per-label ``label_threshold`` (chosen on validation data) if it has one,
    else ``DISPLAY_THRESHOLD``.
    """
    overrides = jv_settings.FACET_THRESHOLDS
    if facet in overrides:
        return float(overrides[facet])
    if label_threshold is not None:
        return float(label_threshold)
    return float(jv_settings.DISPLAY_THRESHOLD)


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
            models.Index(fields=["review_state", "confidence"], name="jv_producttag_review_idx"),
            # Two covering indexes: the back office reads the catalogue's tags from them alone,
            # no table rows. By tag: the products of a facet value (facet filters), the
            # confidence histogram. By product: state filters, coverage, the inventory.
            models.Index(
                fields=["tag", "review_state", "confidence", "product_type", "threshold", "product_id"],
                name="jv_producttag_tag_cover_idx",
            ),
            models.Index(
                fields=["product_type", "product_id", "review_state", "source", "tag", "confidence", "threshold"],
                name="jv_producttag_summary_idx",
            ),
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
        """Confidence this tag needs to be shown (see :func:`display_threshold`)."""
        return display_threshold(self.tag.facet, self.threshold)

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
        if review_state == cls.Review.REJECTED:
            return False
        return review_state == cls.Review.ACCEPTED or confidence >= display_threshold(facet, threshold)

    @classmethod
    def visible_q(cls, facet: str | None = None) -> Q:
        """``is_visible`` as a filter on ProductTag rows (SQLite and PostgreSQL alike).

        With ``facet`` the rows must be filtered to that facet by the caller
        (the filter then needs no join to ``Tag``); without it any facet.
        """
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
