"""The in-process exact backend: an :class:`ExactStore` per process, kept in step with the database.

The database is the source of truth (``VectorItem`` rows for attributes,
``StoredEmbedding`` rows for vectors). A process loads everything on its first
query, then before a query (at most every ``INDEX_REFRESH_SECONDS``) reads the
``IndexChange`` log and reloads the products that changed, so what a worker
stores is searchable in every web process within about a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import numpy as np
from django.db import connections

from jewel_vision.conf import jv_settings
from jewel_vision.index.base import Filters, Hit, VectorIndex, normalise
from jewel_vision.index.exact_store import ExactStore, ItemAttrs
from jewel_vision.models import IndexChange, StoredEmbedding, VectorItem

logger = logging.getLogger(__name__)

# How far back (in log ids) a refresh looks again for rows committed out of order
# (PostgreSQL hands out ids at insert time, not at commit time).
_LOG_WINDOW = 500
_CHUNK = 2000


def _load_items(analysis_ids: list[int] | None = None, product_ids: Iterable[str] | None = None, using: str = "default"):
    """(keys, product_ids, image_ids, vectors, attrs) of indexed photos, from the database."""
    items = VectorItem.objects.using(using).order_by("analysis_id")
    if product_ids is not None:
        items = items.filter(product_id__in=list(product_ids))
    rows = list(
        items.values_list("analysis_id", "product_id", "image_id", "in_stock", "price", "item_type", "metal", "metal_tone")
    )
    keys = [r[0] for r in rows]
    vectors: dict[int, bytes] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        vectors.update(StoredEmbedding.objects.using(using).filter(analysis_id__in=chunk).values_list("analysis_id", "vector"))
    rows = [r for r in rows if r[0] in vectors]
    if not rows:
        return [], [], [], np.zeros((0, 0), np.float32), []
    dim = len(bytes(vectors[rows[0][0]])) // 4
    rows = [r for r in rows if len(bytes(vectors[r[0]])) == dim * 4]
    mat = np.empty((len(rows), dim), np.float32)
    for i, r in enumerate(rows):
        mat[i] = np.frombuffer(bytes(vectors[r[0]]), dtype="<f4")
    attrs = [ItemAttrs(in_stock=r[3], price=r[4], item_type=r[5], metal=r[6], metal_tone=r[7]) for r in rows]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], mat, attrs


class ExactIndex(VectorIndex):
    name = "exact"

    def __init__(self, using: str = "default", **store_options) -> None:
        self.using = using
        self.store_options = store_options
        self._store: ExactStore | None = None
        self._lock = threading.RLock()
        self._last_id = 0
        self._last_token = ""
        self._applied: set[int] = set()
        self._checked_at = 0.0
        self.loaded_at: float | None = None

    # -- loading and catching up ----------------------------------------------------------
    def _log_position(self) -> tuple[int, str]:
        last = IndexChange.objects.using(self.using).order_by("-id").values_list("id", "token").first()
        return (last[0], last[1]) if last else (0, "")

    def reload(self) -> int:
        """Load every indexed photo from the database (first query, rebuild, or a rewritten log)."""
        with self._lock:
            started = time.perf_counter()
            position = self._log_position()
            applied = set(
                IndexChange.objects.using(self.using)
                .filter(id__gt=position[0] - _LOG_WINDOW, id__lte=position[0])
                .values_list("id", flat=True)
            )
            keys, pids, iids, mat, attrs = _load_items(using=self.using)
            dim = mat.shape[1] if len(keys) else 1280
            store = ExactStore(dim, **self.store_options)
            if keys:
                store.add(keys, pids, iids, mat, attrs)
                if store.P is None and len(store) >= store.projection_min_items:
                    store.fit_projection()
            self._store = store
            self._last_id, self._last_token = position
            self._applied = applied
            self._checked_at = time.monotonic()
            self.loaded_at = time.time()
            logger.info("exact index loaded %d photos in %.2fs", len(store), time.perf_counter() - started)
            return len(store)

    def reset(self) -> None:
        """Forget everything in memory; the next query loads again."""
        with self._lock:
            self._store = None
            self._last_id, self._last_token, self._applied = 0, "", set()

    def catch_up(self, force: bool = False) -> int:
        """Apply changes logged by any process since the last look; returns products reloaded."""
        with self._lock:
            if self._store is None:
                self.reload()
                return 0
            now = time.monotonic()
            if not force and now - self._checked_at < float(jv_settings.INDEX_REFRESH_SECONDS):
                return 0
            self._checked_at = now
            log = IndexChange.objects.using(self.using)
            if self._last_id:
                anchor = log.filter(id=self._last_id).values_list("token", flat=True).first()
                if anchor != self._last_token:
                    # The log was rewritten (rolled back, pruned, or the database replaced).
                    self.reload()
                    return 0
            floor = max(0, self._last_id - _LOG_WINDOW)
            limit = 20_000
            rows = list(log.filter(id__gt=floor).order_by("id").values_list("id", "token", "product_id")[:limit])
            if len(rows) == limit:
                self.reload()  # far behind: loading everything is cheaper
                return 0
            fresh = [r for r in rows if r[0] not in self._applied]
            if not fresh:
                return 0
            products = list(dict.fromkeys(r[2] for r in fresh))
            self._reload_products(products)
            self._applied.update(r[0] for r in fresh)
            if rows[-1][0] > self._last_id:
                self._last_id, self._last_token = rows[-1][0], rows[-1][1]
            self._applied = {i for i in self._applied if i > self._last_id - _LOG_WINDOW}
            return len(products)

    def _reload_products(self, product_ids: list[str]) -> None:
        store = self._store
        assert store is not None
        for start in range(0, len(product_ids), _CHUNK):
            chunk = product_ids[start : start + _CHUNK]
            for pid in chunk:
                store.remove_product(pid)
            keys, pids, iids, mat, attrs = _load_items(product_ids=chunk, using=self.using)
            if keys and mat.shape[1] != store.dim:
                self.reload()
                return
            if keys:
                store.add(keys, pids, iids, mat, attrs)
        store.maybe_refit()

    def _ready_store(self) -> ExactStore:
        self.catch_up()
        assert self._store is not None
        return self._store

    # -- the interface ----------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        q = normalise(vector)
        with self._lock:
            store = self._ready_store()
            if store.n and q.shape[0] != store.dim:
                raise ValueError(f"query has {q.shape[0]} dimensions, the index {store.dim}")
            found = store.search(q, k, filters)
            return [Hit(*store.row_info(row), score=score) for row, score in found]

    def vectors_of(self, product_id: str) -> np.ndarray:
        """The stored vectors of one product's photos (from memory)."""
        with self._lock:
            store = self._ready_store()
            pc = store.product_code.get(str(product_id))
            rows = sorted(store.rows_of_product.get(pc, ())) if pc is not None else []
            return store.full[rows].astype(np.float32) if rows else np.zeros((0, store.dim), np.float32)

    def count(self) -> int:
        with self._lock:
            return len(self._ready_store())


    def stats(self) -> dict:
        with self._lock:
            store = self._store
            return {
                "backend": self.name,
                "loaded": store is not None,
                "items": len(store) if store else 0,
                "projected": bool(store and store.P is not None),
                "memory_mb": round(store.nbytes / 2**20, 1) if store else 0.0,
                "last_change": self._last_id,
                "database": connections[self.using].settings_dict.get("NAME"),
            }
