"""Keeping the index rows in step with analyses, tags and the shop's products.

Every entry point runs in the caller's transaction: index rows change if and
only if the change that caused them commits.

* :func:`refresh_product` recomputes one product's rows from the source of
  truth (current finished analyses with an embedding; the product's price and
  stock; its visible type, metal and metal tone) and writes only differences.
  It is called after an analysis is stored, when photos or products are
  deleted, when a product is saved (price, stock) and when its tags change.
* :func:`rebuild_items` recomputes every row (``jewel_vision_build_index``).

Each change is also appended to the ``IndexChange`` log, which in-process
indexes read to catch up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

import numpy as np
from django.db import connections, transaction
from django.utils import timezone

from jewel_vision.conf import jv_settings
from jewel_vision.index import pgvector
from jewel_vision.index.products import attrs_by_id, visible_tags
from jewel_vision.models import Analysis, IndexChange, StoredEmbedding, VectorItem
from jewel_vision.registry import image_content_type

logger = logging.getLogger(__name__)

ATTR_FIELDS = ("in_stock", "price", "item_type", "metal", "metal_tone")


def _attrs_for(product_ids: list[str]) -> dict[str, dict]:
    """Desired filter attributes of existing products."""
    base = attrs_by_id(product_ids)
    tags = visible_tags(list(base))
    out = {}
    for pid, (in_stock, price) in base.items():
        t = tags[pid]
        out[pid] = {
            "in_stock": bool(in_stock),
            "price": price,
            "item_type": t.top("type")[:64],
            "metal": t.top("metal")[:64],
            "metal_tone": t.top("metal_tone")[:64],
        }
    return out


def _indexable(product_ids: list[str] | None, using: str):
    """(analysis_id, image_id, product_id) of current, finished analyses with an embedding."""
    qs = Analysis.objects.using(using).filter(
        image_type=image_content_type(), is_current=True, status=Analysis.Status.DONE, embedding__isnull=False
    ).exclude(product_id="")
    if product_ids is not None:
        qs = qs.filter(product_id__in=product_ids)
    return qs.values_list("pk", "image_id", "product_id")


def _vectors(keys: list[int], using: str) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for start in range(0, len(keys), 2000):
        for key, blob in StoredEmbedding.objects.using(using).filter(analysis_id__in=keys[start : start + 2000]).values_list(
            "analysis_id", "vector"
        ):
            out[key] = np.frombuffer(bytes(blob), dtype="<f4")
    return out


def _log(product_ids: Iterable[str], using: str) -> None:
    changes = IndexChange.objects.using(using).bulk_create(IndexChange(product_id=str(p)[:64]) for p in product_ids)
    last = changes[-1].pk if changes and changes[-1].pk else None
    if last and last % 1000 == 0:
        prune_log(using)


def prune_log(using: str = "default", keep_seconds: int = 86_400) -> int:
    """Drop log entries older than a day (processes that far behind reload everything)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=keep_seconds)
    last = IndexChange.objects.using(using).order_by("-id").values_list("id", flat=True).first()
    deleted, _ = IndexChange.objects.using(using).filter(created_at__lt=cutoff).exclude(id=last).delete()
    return deleted


def _pgvector_active(using: str) -> bool:
    return pgvector.is_ready(using)


def refresh_product(product_id: str | None, using: str = "default") -> bool:
    """Bring one product's index rows up to date; returns whether anything changed."""
    if not product_id:
        return False
    return bool(refresh_products([str(product_id)], using=using))


def refresh_products(product_ids: Iterable[str], using: str = "default") -> list[str]:
    """Bring some products' index rows up to date; returns the products whose rows changed."""
    pids = list(dict.fromkeys(str(p) for p in product_ids if p))
    if not pids:
        return []
    changed: set[str] = set()
    with transaction.atomic(using=using):
        attrs = _attrs_for(pids)
        wanted = {key: (image_id, pid) for key, image_id, pid in _indexable(pids, using) if pid in attrs}
        existing = {
            item.analysis_id: item
            for item in VectorItem.objects.using(using).filter(product_id__in=pids)
        }
        moved_in = set(wanted) - set(existing)
        if moved_in:
            for item in VectorItem.objects.using(using).filter(analysis_id__in=list(moved_in)):
                existing[item.analysis_id] = item  # rows of photos that moved here from another product
        gone = [key for key in existing if key not in wanted]
        if gone:
            VectorItem.objects.using(using).filter(analysis_id__in=gone).delete()
            changed.update(existing[key].product_id for key in gone)
        now = timezone.now()
        for key, (image_id, pid) in wanted.items():
            item = existing.get(key)
            if item is None:
                continue
            desired = attrs[pid]
            if item.product_id != pid or item.image_id != image_id or any(
                getattr(item, f) != desired[f] for f in ATTR_FIELDS
            ):
                changed.update({item.product_id, pid})
                VectorItem.objects.using(using).filter(analysis_id=key).update(
                    product_id=pid, image_id=image_id, updated_at=now, **desired
                )
        new = [key for key in wanted if key not in existing]
        if new:
            VectorItem.objects.using(using).bulk_create(
                VectorItem(analysis_id=key, image_id=wanted[key][0], product_id=wanted[key][1], updated_at=now, **attrs[wanted[key][1]])
                for key in new
            )
            changed.update(wanted[key][1] for key in new)
            if _pgvector_active(using):
                vectors = _vectors(new, using)
                pgvector.set_embeddings(using, [(key, vectors[key]) for key in new if key in vectors])
        if changed:
            _log(sorted(changed), using)
    return sorted(changed)


def _all_rows(using: str) -> Iterator[tuple]:
    """Every desired index row with its vector, for a rebuild."""
    rows = list(_indexable(None, using))
    pids = sorted({pid for _, _, pid in rows})
    attrs: dict[str, dict] = {}
    for start in range(0, len(pids), 2000):
        attrs.update(_attrs_for(pids[start : start + 2000]))
    rows = [r for r in rows if r[2] in attrs]
    for start in range(0, len(rows), 2000):
        chunk = rows[start : start + 2000]
        vectors = _vectors([r[0] for r in chunk], using)
        for key, image_id, pid in chunk:
            if key in vectors:
                a = attrs[pid]
                yield (key, str(image_id), str(pid), a["in_stock"], a["price"], a["item_type"], a["metal"], a["metal_tone"], vectors[key])


def rebuild_items(using: str = "default", backend: str | None = None) -> int:
    """Recompute every index row from the database; returns the number of photos indexed."""
    backend = backend or backend_name(using)
    if backend == "pgvector":
        rows = list(_all_rows(using))
        dim = len(rows[0][8]) if rows else pgvector.column_dim(using) or pgvector.DEFAULT_DIM
        count = pgvector.bulk_load(using, rows, dim)
    else:
        with transaction.atomic(using=using):
            VectorItem.objects.using(using).all().delete()
            batch: list = []
            count = 0
            for r in _all_rows(using):
                batch.append(VectorItem(analysis_id=r[0], image_id=r[1], product_id=r[2], in_stock=r[3], price=r[4],
                                        item_type=r[5], metal=r[6], metal_tone=r[7]))
                if len(batch) >= 2000:
                    VectorItem.objects.using(using).bulk_create(batch)
                    count += len(batch)
                    batch = []
            VectorItem.objects.using(using).bulk_create(batch)
            count += len(batch)
    with transaction.atomic(using=using):
        # Every in-process index finds its last-seen log entry gone and reloads.
        IndexChange.objects.using(using).all().delete()
        _log(["*rebuild*"], using)
    return count


def backend_name(using: str = "default") -> str:
    """The backend ``INDEX_BACKEND`` picks; "auto": in-process up to INDEX_IN_PROCESS_MAX_PHOTOS, then pgvector."""
    choice = jv_settings.INDEX_BACKEND
    if choice == "auto":
        if indexed_photos(using) <= jv_settings.INDEX_IN_PROCESS_MAX_PHOTOS:
            return "exact"
        if pgvector.is_ready(using):
            return "pgvector"
        if not _warned_too_big:
            _warn_too_big(using)
        return "exact"
    return choice


_warned_too_big = False


def _warn_too_big(using: str) -> None:
    global _warned_too_big
    _warned_too_big = True
    logger.warning(
        "The vector index holds %d photos, more than INDEX_IN_PROCESS_MAX_PHOTOS (%d), and every web process keeps "
        "them in memory: use PostgreSQL with pgvector (manage.py jewel_vision_build_index --backend pgvector).",
        indexed_photos(using), jv_settings.INDEX_IN_PROCESS_MAX_PHOTOS,
    )


#: (database, name) -> (photo count, when read): the count decides "auto" and is read once a minute.
_counts: dict[tuple[str, str], tuple[int, float]] = {}
COUNT_SECONDS = 60.0


def indexed_photos(using: str = "default") -> int:
    """How many photos the index holds, read at most once a minute (PostgreSQL: the planner's estimate)."""
    conn = connections[using]
    key = (using, str(conn.settings_dict.get("NAME")))
    cached = _counts.get(key)
    now = time.monotonic()
    if cached is None or now - cached[1] > COUNT_SECONDS:
        if conn.vendor == "postgresql":
            with conn.cursor() as cur:
                cur.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [VectorItem._meta.db_table])
                row = cur.fetchone()
            count = max(int(row[0]) if row else 0, 0)
        else:
            count = VectorItem.objects.using(using).count()
        cached = _counts[key] = (count, now)
    return cached[0]


def forget_counts() -> None:
    _counts.clear()


def db_vendor(using: str = "default") -> str:
    return connections[using].vendor
