"""``jewel-vision bench-load`` end to end: a real server, PostgreSQL, Redis and a real worker, a few uploads."""

from __future__ import annotations

import os

import pytest

from jewel_vision import bench_load
from jewel_vision.cli import build_parser

# bench-load creates its own database on the server: connect to that server's maintenance database
# (scripts/test.sh points JEWEL_VISION_TEST_PG_URL at the embedded PostgreSQL it starts).
PG_URL = bench_load._with_db(os.environ.get("JEWEL_VISION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                             "postgres")
BROKER = "redis://127.0.0.1:6379/10"


@pytest.fixture
def services():
    import psycopg
    import redis

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
        redis.Redis.from_url(BROKER).ping()
    except (psycopg.OperationalError, redis.ConnectionError) as exc:
        pytest.fail(f"bench-load needs PostgreSQL at {PG_URL} and Redis (scripts/services.sh starts them): {exc}")
    yield
    redis.Redis.from_url(BROKER).flushdb()


def _args(*extra: str):
    return build_parser().parse_args(
        ["bench-load", "--pg-url", PG_URL, "--broker", BROKER, "--reference-n", "0", *extra]
    )


@pytest.mark.integration
@pytest.mark.postgres
def test_every_upload_is_analysed(services, tmp_path):
    out = bench_load.run(_args("--uploads", "3", "--concurrency", "3", "--workers", "1", "--timeout", "120"))
    assert out["uploads"] == 3, out
    assert out["server_errors"] == 0 and out["rejected_uploads"] == 0, out
    assert out["lost"] == 0, out
    assert out["analyses_done"] == 3, out
    assert out["p95_upload_ms"] > 0 and out["analyses_per_second"] > 0


@pytest.mark.integration
@pytest.mark.postgres
def test_analyses_that_never_end_are_counted_lost(services):
    """No worker: the uploads succeed and every one of their analyses is reported lost at the timeout."""
    out = bench_load.run(_args("--uploads", "2", "--concurrency", "2", "--workers", "0", "--timeout", "2"))
    assert out["uploads"] == 2 and out["server_errors"] == 0, out
    assert out["lost"] == 2 and out["analyses_done"] == 0, out


def test_form_fields_reads_hidden_inputs_and_the_photo_input():
    page = (
        '<input type="hidden" name="csrfmiddlewaretoken" value="abc&amp;1">'
        '<input type="hidden" name="images-TOTAL_FORMS" value="1" id="id_images-TOTAL_FORMS">'
        '<input type="file" name="images-__prefix__-image">'
        '<input type="file" name="images-0-image" accept="image/*">'
        '<input type="text" name="name" value="">'
    )
    hidden, photo = bench_load.form_fields(page)
    assert hidden == {"csrfmiddlewaretoken": "abc&1", "images-TOTAL_FORMS": "1"}
    assert photo == "images-0-image"
