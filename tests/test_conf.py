import pytest
from django.core.exceptions import ImproperlyConfigured

from jewel_vision.conf import DEFAULTS, get_image_model, get_product_model, jv_settings


def test_defaults_point_at_the_demo_models():
    assert get_image_model()._meta.label == "shop.ProductImage"
    assert get_product_model()._meta.label == "shop.Product"
    assert jv_settings.QUEUE == "jewel_vision"


def test_override_settings_reloads(settings):
    settings.JEWEL_VISION = {"QUEUE": "gpu", "DISPLAY_THRESHOLD": 0.9, "FACET_THRESHOLDS": {"stone": 0.7}}
    assert jv_settings.QUEUE == "gpu"
    assert jv_settings.threshold_for("type") == 0.9
    assert jv_settings.threshold_for("stone") == 0.7
    # Unset keys keep their defaults, nested pipeline options too.
    assert jv_settings.PIPELINE["max_side"] == DEFAULTS["PIPELINE"]["max_side"]


def test_display_threshold_override_then_label_then_default(settings):
    settings.JEWEL_VISION = {"DISPLAY_THRESHOLD": 0.6, "FACET_THRESHOLDS": {"stone": 0.7}}
    assert jv_settings.has_facet_override("stone") and not jv_settings.has_facet_override("type")
    assert jv_settings.display_threshold("stone", 0.9) == 0.7  # the shop's override wins
    assert jv_settings.display_threshold("type", 0.9) == 0.9  # else the model's per-label threshold
    assert jv_settings.display_threshold("type", 0.4) == 0.4
    assert jv_settings.display_threshold("type") == jv_settings.display_threshold("type", None) == 0.6


@pytest.mark.parametrize(
    "value, message",
    [
        ({"IMAGE_MODEL": "shop.Nope"}, "not an installed model"),
        ({"IMAGE_MODEL": "nodot"}, "app_label.ModelName"),
        ({"IMAGE_FIELD": "missing"}, "has no such field"),
        ({"IMAGE_FIELD": "position"}, "not a file or image field"),
        ({"PRODUCT_FIELD": "position"}, "not a foreign key"),
        ({"DISPLAY_THRESHOLD": 1.5}, "between 0 and 1"),
        ({"MAX_RETRIES": -1}, "non-negative integer"),
        ({"QUEUE": ""}, "non-empty string"),
        ({"FACET_THRESHOLDS": {"type": 2}}, "FACET_THRESHOLDS"),
        ({"PIPELINE": {"no_such_option": 1}}, "PIPELINE"),
        ({"QUEUEE": "typo"}, "unknown key(s) QUEUEE"),
    ],
)
def test_invalid_settings_give_a_clear_message(settings, value, message):
    settings.JEWEL_VISION = value
    with pytest.raises(ImproperlyConfigured, match=None) as excinfo:
        jv_settings.validate()
    assert message in str(excinfo.value)


def test_setting_must_be_a_dict(settings):
    settings.JEWEL_VISION = ["shop.ProductImage"]
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        jv_settings.validate()
