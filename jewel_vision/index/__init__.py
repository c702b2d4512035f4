"""The vector index: one interface, two backends, kept in sync with the database.

    from jewel_vision.index import get_index, Filters
    hits = get_index().search_products(vector, k=10, filters=Filters(in_stock=True, types=("ring",)))

``JEWEL_VISION["INDEX_BACKEND"]`` picks the backend: ``"exact"`` (in-process,
NumPy), ``"pgvector"`` (HNSW in PostgreSQL) or ``"auto"`` (pgvector when the
database has it). ``manage.py jewel_vision_build_index`` builds or rebuilds it.
"""

from __future__ import annotations

import threading

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from jewel_vision.index import pgvector, sync
from jewel_vision.index.base import Filters, Hit, ProductHit, VectorIndex, collapse, normalise
from jewel_vision.index.exact import ExactIndex

__all__ = ["Filters", "Hit", "ProductHit", "VectorIndex", "collapse", "get_index", "normalise", "reset_indexes"]

_indexes: dict[tuple, VectorIndex] = {}
_lock = threading.Lock()


def get_index(using: str = "default") -> VectorIndex:
    """The configured backend for database ``using`` (one instance per process)."""
    name = sync.backend_name(using)
    if name == "pgvector" and not pgvector.is_ready(using):
        raise ImproperlyConfigured(
            "JEWEL_VISION['INDEX_BACKEND'] is 'pgvector' but the database has no pgvector column: use PostgreSQL "
            "with the vector extension and run `manage.py jewel_vision_build_index`."
        )
    key = (name, using, str(connections[using].settings_dict.get("NAME")))
    index = _indexes.get(key)
    if index is None:
        with _lock:
            index = _indexes.get(key)
            if index is None:
                if name == "pgvector":
                    index = pgvector.PgVectorIndex(using)
                else:
                    index = ExactIndex(using)
                _indexes[key] = index
    return index


def reset_indexes() -> None:
    """Forget in-process indexes (tests; after swapping databases)."""
    with _lock:
        _indexes.clear()
    pgvector.forget_ready_cache()
    sync.forget_counts()
