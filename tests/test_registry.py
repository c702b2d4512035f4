import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured

from jewel_vision import registry


def test_the_demo_shop_names_its_models():
    assert registry.get_image_model()._meta.label == "shop.ProductImage"
    assert registry.get_product_model()._meta.label == "shop.Product"


@pytest.mark.django_db
def test_content_types_are_the_shop_models():
    assert registry.image_content_type() == ContentType.objects.get_by_natural_key("shop", "productimage")
    assert registry.product_content_type() == ContentType.objects.get_by_natural_key("shop", "product")


@pytest.mark.parametrize(
    "value, message",
    [
        ({}, "Set JEWEL_VISION['IMAGE_MODEL']"),
        ({"IMAGE_MODEL": "shop.Nope"}, "not an installed model"),
        ({"IMAGE_MODEL": "nodot"}, "app_label.ModelName"),
    ],
)
def test_a_missing_or_wrong_image_model_is_a_clear_error(settings, value, message):
    settings.JEWEL_VISION = value
    with pytest.raises(ImproperlyConfigured, match=None) as excinfo:
        registry.get_image_model()
    assert message in str(excinfo.value)


def test_pipeline_options_are_checked(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PIPELINE": {"no_such_option": 1}}
    with pytest.raises(ImproperlyConfigured, match="PIPELINE"):
        registry.pipeline_config()


def test_the_configured_pipeline_follows_the_settings(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PIPELINE": {"max_side": 640}}
    pipeline = registry.configured_pipeline()
    assert pipeline.config.max_side == 640
    assert registry.pipeline_version() == pipeline.version
