"""A throw-away demo shop for benchmarks: SQLite and media in a folder of its own, one product per photo.

Used by ``backfill_speed.py`` (with Redis and real workers) and ``gpu_bench.py --worker-path``
(the worker's batch path in-process, kombu's filesystem broker: nothing to run beside it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def open_shop(work: Path, broker_url: str = "filesystem://") -> dict[str, str]:
    """Point Django at a new database under ``work``, migrate it, turn automatic analysis off.

    Returns the environment a worker needs to share this shop.
    """
    env = {"JEWEL_VISION_VAR_DIR": str(work), "JEWEL_VISION_MEDIA_ROOT": str(work / "media"),
           "DJANGO_SETTINGS_MODULE": "shop.settings", "DJANGO_DEBUG": "1", "CELERY_BROKER_URL": broker_url,
           "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "PYTHONPATH": str(ROOT)}
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    call_command("migrate", verbosity=0)
    # Through override_settings, so the upload signals are disconnected (setting_changed).
    override_settings(JEWEL_VISION={**settings.JEWEL_VISION, "AUTO_ANALYZE": False}).enable()
    return env


def add_products(paths: list[Path], prefix: str = "Bench") -> list[Any]:
    """One product with one photo per path; returns the photos (``ProductImage``)."""
    from django.core.files.base import ContentFile

    from shop.models import Product, ProductImage

    images = []
    for k, path in enumerate(paths):
        product = Product.objects.create(name=f"{prefix} {k}", sku=f"{prefix.upper()}-{k}", stock=1)
        images.append(ProductImage.objects.create(product=product, image=ContentFile(path.read_bytes(), name=path.name)))
    return images
