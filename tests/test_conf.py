import pytest
from django.core.exceptions import ImproperlyConfigured

from jewel_vision.conf import DEFAULTS, jv_settings


def test_override_settings_reloads(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "QUEUE": "gpu", "DISPLAY_THRESHOLD": 0.9}
    assert jv_settings.QUEUE == "gpu"
    assert jv_settings.DISPLAY_THRESHOLD == 0.9
    # Unset keys keep their defaults, nested pipeline options too.
    assert jv_settings.PIPELINE["max_side"] == DEFAULTS["PIPELINE"]["max_side"]


def test_there_is_no_default_image_model():
    # A shop names its own photo model; the demo shop's is not a default (registry says so clearly).
    assert DEFAULTS["IMAGE_MODEL"] is None


@pytest.mark.parametrize(
    "value, message",
    [
        ({"DISPLAY_THRESHOLD": 1.5}, "between 0 and 1"),
        ({"MAX_RETRIES": -1}, "non-negative integer"),
        ({"QUEUE": ""}, "non-empty string"),
        ({"FACET_THRESHOLDS": {"type": 2}}, "FACET_THRESHOLDS"),
        ({"API_THROTTLE_RATES": {"photo_search": "thirty a minute"}}, "not a rate like '30/min'"),
        ({"QUEUEE": "typo"}, "unknown key(s) QUEUEE"),
    ],
)
def test_invalid_settings_give_a_clear_message(settings, value, message):
    settings.JEWEL_VISION = value
    with pytest.raises(ImproperlyConfigured) as excinfo:
        jv_settings.validate()
    assert message in str(excinfo.value)


@pytest.mark.parametrize("rate", ["30/min", "5/s", "1000/day", "2/hour", None])
def test_throttle_rates_drf_reads_are_accepted(settings, rate):
    settings.JEWEL_VISION = {"API_THROTTLE_RATES": {"photo_search": rate}}
    jv_settings.validate()


def test_setting_must_be_a_dict(settings):
    settings.JEWEL_VISION = ["shop.ProductImage"]
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        jv_settings.validate()
