"""Throttles: who is "one address", where the counts live, and the shop's HTML photo search (issue 10, item 3)."""

from __future__ import annotations

import pytest

from tests.api.test_products import assert_error

pytestmark = pytest.mark.django_db

NOT_AN_IMAGE = b"this is not an image"


def upload(api, data: bytes, **headers):
    """A photo search through the API; ``headers`` as the WSGI environ (``HTTP_X_FORWARDED_FOR=...``)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post("/api/v1/search/photo/", {"image": SimpleUploadedFile("photo.jpg", data)}, **headers)


def _rates(settings, jv_env, photo_search: str, **extra):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PHOTO_SEARCH": "in_process", 
        **jv_env, **extra, "API_THROTTLE_RATES": {**jv_env["API_THROTTLE_RATES"], "photo_search": photo_search}
    }


def test_a_rotating_x_forwarded_for_does_not_escape_the_photo_search_throttle(api, settings, jv_env):
    _rates(settings, jv_env, "5/min")
    statuses = [
        upload(api, NOT_AN_IMAGE, HTTP_X_FORWARDED_FOR=f"10.0.{i // 250}.{i % 250 + 1}").status_code for i in range(60)
    ]
    assert statuses[:5] == [400] * 5  # counted, and answered (not an image)
    assert statuses[5:] == [429] * 55, statuses


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(api, settings, jv_env):
    _rates(settings, jv_env, "2/min", NUM_PROXIES=1)
    # The proxy appends the address it saw; what a client wrote before it is not trusted.
    for _ in range(2):
        assert upload(api, NOT_AN_IMAGE, HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5").status_code == 400
    assert_error(upload(api, NOT_AN_IMAGE, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5"), 429, "throttled")
    # Another client behind the same proxy has its own budget.
    assert upload(api, NOT_AN_IMAGE, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 400


def test_throttle_counts_live_in_the_configured_shared_cache(api, settings, jv_env):
    import redis

    from tests.conftest import REDIS_TEST_URL

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not running at {REDIS_TEST_URL}")
    client.flushdb()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_TEST_URL},
    }
    _rates(settings, jv_env, "3/min", THROTTLE_CACHE="shared")
    try:
        for _ in range(3):
            assert upload(api, NOT_AN_IMAGE).status_code == 400
        assert any(b"throttle_photo_search" in k for k in client.keys("*"))
        # Another web process shares the counts: forget this process's local cache, still throttled.
        from django.core.cache import caches

        caches["default"].clear()
        assert_error(upload(api, NOT_AN_IMAGE), 429, "throttled")
    finally:
        client.flushdb()


def test_the_shops_html_photo_search_is_throttled_too(client, settings, jv_env):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _rates(settings, jv_env, "3/min")
    statuses = []
    for i in range(5):
        r = client.post("/search/photo/", {"image": SimpleUploadedFile("x.jpg", NOT_AN_IMAGE)},
                        HTTP_X_FORWARDED_FOR=f"10.9.9.{i}")
        statuses.append(r.status_code)
    assert statuses == [400, 400, 400, 429, 429]
    assert int(r["Retry-After"]) > 0 and b"Too many" in r.content
    assert client.get("/search/photo/").status_code == 200  # the form itself is not counted
