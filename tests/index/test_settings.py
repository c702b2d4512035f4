"""The settings this feature adds, and their validation."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from jewel_vision.conf import DEFAULTS, jv_settings


def test_defaults(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage"}
    assert jv_settings.INDEX_BACKEND == "auto"
    assert jv_settings.HNSW == DEFAULTS["HNSW"]
    assert jv_settings.PRODUCT_PRICE_FIELD == "price" and jv_settings.PRODUCT_STOCK_FIELD == "stock"
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "HNSW": {"ef_search": 200}, "API_THROTTLE_RATES": {"photo_search": "5/min"}}
    assert jv_settings.HNSW == {**DEFAULTS["HNSW"], "ef_search": 200}  # merged with the defaults
    assert jv_settings.API_THROTTLE_RATES["anon"] == DEFAULTS["API_THROTTLE_RATES"]["anon"]


@pytest.mark.parametrize(
    "value, message",
    [
        ({"INDEX_BACKEND": "faiss"}, "INDEX_BACKEND"),
        ({"INDEX_REFRESH_SECONDS": -1}, "INDEX_REFRESH_SECONDS"),
        ({"HNSW": {"m": 1}}, "HNSW"),
        ({"HNSW": {"typo": 3}}, "unknown key(s) typo"),
        ({"HNSW": {"projection_from": "1M"}}, "['HNSW']['projection_from'] must be an integer"),
        ({"HNSW": {"projection_dim": None}}, "['HNSW']['projection_dim'] must be an integer"),
        ({"PRODUCT_STOCK_FIELD": ""}, "field name or None"),
        ({"UPLOAD_MAX_BYTES": "10MB"}, "non-negative integer"),
        ({"API_THROTTLE_RATES": {"anon": "lots"}}, "is not a rate"),
    ],
)
def test_invalid_values_are_explained(settings, value, message):
    settings.JEWEL_VISION = value
    with pytest.raises(ImproperlyConfigured) as excinfo:
        jv_settings.validate()
    assert message in str(excinfo.value)


def test_the_projection_is_off_unless_a_size_is_set(settings):
    assert jv_settings.HNSW["projection_from"] is None
    jv_settings.validate()
    settings.JEWEL_VISION = {"HNSW": {"projection_from": 200_000}}
    jv_settings.validate()
    assert jv_settings.HNSW["projection_from"] == 200_000


def test_optional_product_fields(settings):
    from jewel_vision.index.products import in_stock_of, price_of

    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PRODUCT_PRICE_FIELD": None, "PRODUCT_STOCK_FIELD": None}
    jv_settings.validate()

    class Thing:
        price = 5
        stock = 0

    assert price_of(Thing()) is None and in_stock_of(Thing()) is True
