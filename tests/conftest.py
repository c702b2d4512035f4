"""Shared fixtures: photos drawn on the fly, real Celery workers, broker switching."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REDIS_TEST_URL = os.environ.get("JEWEL_VISION_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def photo_bytes(kind: str = "ring", metal: str = "gold", seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A drawn packshot of a piece of jewelry, different for each seed."""
    from shop.catalog import draw_item

    img = draw_item(kind, metal, random.Random(seed))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def wait_for(predicate: Callable[[], object], timeout: float = 120, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _media_root(settings, media_dir):
    settings.MEDIA_ROOT = str(media_dir)


@pytest.fixture(autouse=True)
def _photo_search_in_process(settings):
    """Search by photo runs in the test process unless a test sends it to a real worker
    (tests/services/test_photo_search_worker.py); the demo shop's default is a worker."""
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PHOTO_SEARCH": "in_process"}


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (facet counts are cached briefly for shoppers)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def make_product(db):
    from shop.models import Product

    counter = iter(range(10**6))

    def make(name: str = "Piece", **fields):
        n = next(counter)
        return Product.objects.create(name=f"{name} {n}", sku=fields.pop("sku", f"T-{time.time_ns()}-{n}"), **fields)

    return make


@pytest.fixture
def add_photo():
    from django.core.files.base import ContentFile

    from shop.models import ProductImage

    def add(product, data: bytes | None = None, name: str = "photo.jpg", **kwargs):
        data = photo_bytes(**kwargs) if data is None else data
        return ProductImage.objects.create(product=product, image=ContentFile(data, name=name))

    return add


def database_url() -> str:
    """The URL of the database the tests use, for worker processes."""
    from django.db import connection

    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    user = d.get("USER") or "postgres"
    auth = f"{user}:{d['PASSWORD']}@" if d.get("PASSWORD") else f"{user}@"
    return f"postgresql://{auth}{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{d['NAME']}"


def is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


class Worker:
    """A real ``celery -A worker worker`` process on the Jewel Vision queue."""

    def __init__(self, broker_url: str, env: dict[str, str], log: Path, queues: str = "jewel_vision"):
        self.log = log
        full_env = {**os.environ, **env, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": database_url()}
        full_env.pop("DJANGO_DEBUG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", queues, "--pool", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
            cwd=ROOT, env=full_env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def start_worker(tmp_path, media_dir) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(broker_url: str, queues: str = "jewel_vision", **env: str) -> Worker:
        env.setdefault("JEWEL_VISION_MEDIA_ROOT", str(media_dir))
        worker = Worker(broker_url, env, tmp_path / f"worker-{len(workers)}.log", queues=queues)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        try:
            worker.kill()
        except Exception:  # noqa: BLE001
            pass


@contextmanager
def celery_broker(url: str, transport_options: dict | None = None):
    """Point this process' Celery app (the web side) at another broker."""
    from worker import app

    old = (app.conf.broker_url, app.conf.broker_transport_options)

    def apply(u, opts):
        app.conf.broker_url = u
        app.conf.broker_transport_options = opts or {}
        from kombu import pools

        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu keeps producer pools per connection URL in a global registry; a closed one
        # would be handed out again the next time this URL is used ("Acquire on closed pool").
        pools.reset()

    apply(url, transport_options)
    try:
        yield app
    finally:
        apply(*old)


@pytest.fixture
def redis_broker():
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not running at {REDIS_TEST_URL} (.ci/run starts it)")
    client.flushdb()
    with celery_broker(REDIS_TEST_URL, {"visibility_timeout": 900}):
        yield REDIS_TEST_URL
    client.flushdb()


@pytest.fixture
def filesystem_broker(tmp_path):
    folder = tmp_path / "broker"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True)
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    with celery_broker("filesystem://", options):
        yield folder
