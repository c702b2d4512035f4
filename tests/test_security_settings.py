"""The demo shop's settings fail closed (issue 10, items 3 and 4).

Each case starts a fresh ``manage.py`` / ``python -c`` process with exactly the
environment it names, so nothing of the test process leaks in (pytest's own
key, ``DJANGO_DEBUG``, a ``REDIS_URL`` of the developer's shell).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT

#: Variables of the test process that would change what the settings do.
_SETTINGS_ENV = (
    "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DJANGO_NUM_PROXIES", "DJANGO_HSTS_SECONDS",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS", "DJANGO_HSTS_PRELOAD", "DJANGO_SECURE_SSL_REDIRECT", "REDIS_URL", "CACHE_URL",
    "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set in-process by the browser tests; a deployment never has it
)


def run(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in _SETTINGS_ENV}
    base.update(JEWEL_VISION_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="shop.settings", **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=300)


def settings_of(tmp_path, *names: str, **env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: repr(getattr(settings, n)) for n in {list(names)!r}}}))"
    )
    r = run(["-c", code], tmp_path, **env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/7",
}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    r = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path,
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "System check identified no issues" in r.stdout


def test_check_deploy_flags_throttle_counts_kept_per_process(tmp_path):
    env = {**PRODUCTION}
    del env["REDIS_URL"]
    r = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path,
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **env)
    assert r.returncode != 0 and "jewel_vision.W001" in r.stderr + r.stdout


def test_debug_off_without_a_key_refuses_to_start(tmp_path):
    r = run(["manage.py", "check"], tmp_path, **PRODUCTION)
    assert r.returncode != 0
    assert "DJANGO_SECRET_KEY" in r.stderr and "ImproperlyConfigured" in r.stderr
    # DEBUG is off unless asked for: no DJANGO_DEBUG at all is production too.
    r = run(["manage.py", "check"], tmp_path, DJANGO_ALLOWED_HOSTS="shop.example.com")
    assert r.returncode != 0 and "DJANGO_SECRET_KEY" in r.stderr


def test_debug_is_off_by_default_and_secure_settings_are_on(tmp_path):
    s = settings_of(tmp_path, "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
                    "SECURE_HSTS_SECONDS", "SECRET_KEY", DJANGO_SECRET_KEY="k" * 10 + secrets.token_urlsafe(50))
    assert s["DEBUG"] == "False"
    assert s["SESSION_COOKIE_SECURE"] == s["CSRF_COOKIE_SECURE"] == s["SECURE_SSL_REDIRECT"] == "True"
    assert int(s["SECURE_HSTS_SECONDS"]) >= 31_536_000


def test_the_demo_gets_a_generated_key_not_a_published_one(tmp_path):
    first = settings_of(tmp_path, "DEBUG", "SECRET_KEY", DJANGO_DEBUG="1")
    again = settings_of(tmp_path, "SECRET_KEY", DJANGO_DEBUG="1")
    assert first["DEBUG"] == "True"
    assert first["SECRET_KEY"] == again["SECRET_KEY"]  # kept in var/, so sessions survive a restart
    assert "insecure" not in first["SECRET_KEY"] and len(first["SECRET_KEY"]) > 50
    key_file = tmp_path / "secret-key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    other = tmp_path / "other"
    other.mkdir()
    assert settings_of(other, "SECRET_KEY", DJANGO_DEBUG="1")["SECRET_KEY"] != first["SECRET_KEY"]


@pytest.mark.parametrize("var", ["REDIS_URL", "CACHE_URL"])
def test_the_cache_is_redis_when_a_url_is_given(tmp_path, var):
    s = settings_of(tmp_path, "CACHES", DJANGO_DEBUG="1", **{var: "redis://127.0.0.1:6379/7"})
    assert "django.core.cache.backends.redis.RedisCache" in s["CACHES"] and "6379/7" in s["CACHES"]
    s = settings_of(tmp_path, "CACHES", DJANGO_DEBUG="1")
    assert "LocMemCache" in s["CACHES"]


def test_trusted_proxies_default_to_none(tmp_path):
    s = settings_of(tmp_path, "JEWEL_VISION", "REST_FRAMEWORK", "SECURE_PROXY_SSL_HEADER", DJANGO_DEBUG="1")
    assert "'NUM_PROXIES': 0" in s["JEWEL_VISION"] and "'NUM_PROXIES': 0" in s["REST_FRAMEWORK"]
    assert s["SECURE_PROXY_SSL_HEADER"] == "None"
    s = settings_of(tmp_path, "JEWEL_VISION", "SECURE_PROXY_SSL_HEADER", DJANGO_DEBUG="1", DJANGO_NUM_PROXIES="1")
    assert "'NUM_PROXIES': 1" in s["JEWEL_VISION"] and "HTTP_X_FORWARDED_PROTO" in s["SECURE_PROXY_SSL_HEADER"]
