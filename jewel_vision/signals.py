"""Signal handlers connected in ``JewelVisionConfig.ready()``."""

from __future__ import annotations

import logging
from typing import Any

from jewel_vision.conf import get_image_model, get_product_model, jv_settings

logger = logging.getLogger(__name__)


def image_saved(sender: type, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    """Analyse a saved product image, unless it is a fixture load."""
    if raw or not jv_settings.AUTO_ANALYZE or sender is not get_image_model():
        return
    from jewel_vision.analyses import analyze

    analyze(instance)


def instance_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    """Remove what a deleted image or product alone supported."""
    if sender is get_image_model():
        from jewel_vision.analyses import forget_image

        forget_image(instance)
    elif sender is get_product_model():
        from jewel_vision.analyses import forget_product

        forget_product(instance)
