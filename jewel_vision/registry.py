"""What the shop configured, resolved: its models, their content types, the pipeline.

The bottom layer of the Django side, with :mod:`jewel_vision.conf`. Everything above
it (models, services, analysis, tasks, API, admin) asks here for the shop's product
and product-image models (the ``JEWEL_VISION['IMAGE_MODEL']`` setting, swappable like
Wagtail's image model) and for this process's vision pipeline.
"""

from __future__ import annotations

from django.apps import apps as django_apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from jewel_vision.conf import SETTING_NAME, jv_settings
from jewel_vision.vision.pipeline import Pipeline, PipelineConfig, get_pipeline

__all__ = [
    "configured_pipeline",
    "get_image_model",
    "get_product_model",
    "image_content_type",
    "pipeline_config",
    "pipeline_version",
    "product_content_type",
]


def get_image_model() -> type[models.Model]:
    """The shop's product-image model named by ``JEWEL_VISION['IMAGE_MODEL']``."""
    label = jv_settings.IMAGE_MODEL
    if not label:
        raise ImproperlyConfigured(
            f"Set {SETTING_NAME}['IMAGE_MODEL'] to your product-photo model, as 'app_label.ModelName' "
            "(a model with an image field and a foreign key to the product)."
        )
    try:
        return django_apps.get_model(label, require_ready=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{SETTING_NAME}['IMAGE_MODEL'] must be of the form 'app_label.ModelName', got {label!r}.") from exc
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['IMAGE_MODEL'] refers to {label!r}, which is not an installed model."
        ) from exc


def get_product_model() -> type[models.Model]:
    """The product model, found through the image model's product foreign key."""
    return get_image_model()._meta.get_field(jv_settings.PRODUCT_FIELD).related_model


def image_content_type() -> ContentType:
    """The ContentType of the image model (analyses point at photos through it)."""
    return ContentType.objects.get_for_model(get_image_model())


def product_content_type() -> ContentType:
    """The ContentType of the product model (product tags point at products through it)."""
    return ContentType.objects.get_for_model(get_product_model())


def pipeline_config() -> PipelineConfig:
    """``JEWEL_VISION['PIPELINE']`` as a PipelineConfig; a bad key is a clear error."""
    try:
        return PipelineConfig(**jv_settings.PIPELINE)
    except TypeError as exc:
        raise ImproperlyConfigured(f"{SETTING_NAME}['PIPELINE'] is invalid: {exc}") from exc


def configured_pipeline() -> Pipeline:
    """This process's pipeline for the configured options (its models load lazily, once)."""
    return get_pipeline(pipeline_config())


def pipeline_version() -> str:
    """The version of the configured pipeline (no model is loaded for this).

    Not cached beyond the pipeline object: it changes when a shop teaches a new facet
    head (a new file in ``facet_heads_dir``), and new uploads must then be analysed by it.
    """
    return configured_pipeline().version
