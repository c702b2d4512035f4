"""Forms of the demo shop: a product photo is decoded before it is accepted.

The admin's product-image form (and the inline on the product page) runs
``jewel_vision.vision.image_io.load_image`` on a new upload with the worker's
limits (``JEWEL_VISION['PIPELINE']``), so a file the worker could not decode
(truncated, a decompression bomb, a sliver, SVG or HTML under an image name)
is refused with a form error and never reaches the queue.
"""

from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile

from shop.models import ProductImage


def validate_photo(upload: UploadedFile) -> None:
    """Raise ValidationError unless ``upload`` decodes within the worker's limits."""
    from jewel_vision.conf import jv_settings
    from jewel_vision.vision.image_io import (
        DEFAULT_MAX_ASPECT,
        DEFAULT_MAX_BYTES,
        DEFAULT_MAX_PIXELS,
        DEFAULT_MAX_SIDE,
        load_image,
    )
    from jewel_vision.vision.types import ImageDecodeError

    options = jv_settings.PIPELINE
    upload.seek(0)
    try:
        load_image(
            upload,
            max_pixels=int(options.get("max_pixels") or DEFAULT_MAX_PIXELS),
            max_bytes=int(options.get("max_bytes") or DEFAULT_MAX_BYTES),
            max_side=int(options.get("max_side") or DEFAULT_MAX_SIDE),
            max_aspect=float(options.get("max_aspect") or DEFAULT_MAX_ASPECT),
        )
    except ImageDecodeError as exc:
        raise forms.ValidationError(f"This photo cannot be used: {exc}", code="invalid_image") from exc
    finally:
        upload.seek(0)


class ProductImageForm(forms.ModelForm):
    class Meta:
        model = ProductImage
        fields = "__all__"

    def clean_image(self):
        image = self.cleaned_data.get("image")
        if isinstance(image, UploadedFile):  # a new upload (not the file already stored)
            validate_photo(image)
        return image
