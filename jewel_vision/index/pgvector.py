"""The pgvector backend: an HNSW index in the shop's own PostgreSQL.

The ``jewel_vision_vectoritem`` table (a Django model, so migrations, admin
and test flushes know it) gets an extra ``embedding halfvec(N)`` column and an
HNSW index on it here, with raw SQL, because SQLite has no vector type.
Queries filter in the index scan (``WHERE in_stock AND item_type = ANY(...)
AND price BETWEEN ...``) and use pgvector's iterative index scans
(``hnsw.iterative_scan = relaxed_order``), so a selective filter still
returns ``k`` rows instead of the few that happen to be among the first
``ef_search`` candidates.

Vectors are L2-normalised, so the index uses inner product (``<#>`` is the
negative inner product) and the score is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence

import numpy as np
from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from pgvector import HalfVector
from pgvector.psycopg import register_vector

from jewel_vision.conf import jv_settings
from jewel_vision.index.base import Filters, Hit, VectorIndex, normalise
from jewel_vision.models import StoredEmbedding, VectorItem

logger = logging.getLogger(__name__)

TABLE = "jewel_vision_vectoritem"
HNSW_INDEX = "jv_vectoritem_hnsw"
DEFAULT_DIM = 1280
#: The column's type: half-precision floats halve the table and the HNSW index (a million
#: 1280-d photos: about 2.6 GB of index instead of 5.1); L2-normalised embeddings lose
#: nothing measurable at 16 bits (recall in ``bench-similar``).
COLUMN_TYPE = "halfvec"
OPS = "halfvec_ip_ops"

_ready_cache: dict[tuple[str, str], int | None] = {}


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector, exact for float32 values."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).astype(float).tolist())) + "]"


def extension_available(using: str = "default") -> bool:
    conn = connections[using]
    if conn.vendor != "postgresql":
        return False
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return cur.fetchone() is not None


def column(using: str = "default") -> tuple[str, int] | None:
    """The embedding column's type (``vector`` or ``halfvec``) and dimensions, or None (not installed)."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return None
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT t.typname, a.atttypmod FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_type t ON t.oid = a.atttypid
            WHERE c.relname = %s AND a.attname = 'embedding' AND NOT a.attisdropped
              AND t.typname IN ('vector', 'halfvec') AND pg_table_is_visible(c.oid)
            """,
            [TABLE],
        )
        row = cur.fetchone()
    return (row[0], int(row[1])) if row else None


def column_dim(using: str = "default") -> int | None:
    """Dimensions of the embedding column, or None when there is none (not installed)."""
    found = column(using)
    return found[1] if found else None


def is_ready(using: str = "default", refresh: bool = False) -> bool:
    """Whether this database has the vector column (pgvector installed for Jewel Vision)."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return False
    key = (using, str(conn.settings_dict.get("NAME")))
    if refresh or key not in _ready_cache:
        try:
            _ready_cache[key] = column_dim(using)
        except Exception:  # noqa: BLE001 - e.g. the table does not exist before migrate
            return False
    return _ready_cache[key] is not None


def forget_ready_cache() -> None:
    _ready_cache.clear()


def install(using: str = "default", dim: int = DEFAULT_DIM, *, create_index: bool = True) -> bool:
    """Create the extension, the embedding column and its HNSW index when missing.

    Returns True when the column was (re)created, so its rows need filling.
    Changing ``dim`` drops the old column; a ``vector`` column of an earlier version
    becomes ``halfvec`` in place (its HNSW indexes are built again).
    """
    conn = connections[using]
    hnsw = jv_settings.HNSW
    created = False
    with transaction.atomic(using=using), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('jewel_vision_pgvector_install'))")
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        found = column(using)
        if found is not None and (found[1] != dim or found[0] != COLUMN_TYPE):
            _drop_hnsw_indexes(cur)
            if found[1] != dim:
                cur.execute(f"ALTER TABLE {TABLE} DROP COLUMN embedding")
                found = None
            else:
                cur.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE {COLUMN_TYPE}({int(dim)}) "
                            f"USING embedding::{COLUMN_TYPE}({int(dim)})")
        if found is None:
            cur.execute(f"ALTER TABLE {TABLE} ADD COLUMN embedding {COLUMN_TYPE}({int(dim)})")
            created = True
        if create_index:
            cur.execute(
                f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON {TABLE} USING hnsw (embedding {OPS}) "
                f"WITH (m = {int(hnsw['m'])}, ef_construction = {int(hnsw['ef_construction'])})"
            )
    forget_ready_cache()
    return created


def _drop_hnsw_indexes(cur) -> None:
    cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s", [TABLE, f"{HNSW_INDEX}%"])
    for (name,) in cur.fetchall():
        cur.execute(f'DROP INDEX IF EXISTS "{name}"')


def _where(filters: Filters | None, params: list) -> str:
    clauses = ["embedding IS NOT NULL"]
    f = filters or Filters()
    if f.in_stock:
        clauses.append("in_stock")
    for column, values in (("item_type", f.types), ("metal", f.metals), ("metal_tone", f.metal_tones)):
        if len(values) == 1:
            clauses.append(f"{column} = %s")  # lets the planner pick a partial per-type index
            params.append(values[0])
        elif values:
            clauses.append(f"{column} = ANY(%s)")
            params.append(list(values))
    if f.exclude_types:
        clauses.append("item_type <> ALL(%s)")
        params.append(list(f.exclude_types))
    if f.price_min is not None:
        clauses.append("price >= %s")
        params.append(float(f.price_min))
    if f.price_max is not None:
        clauses.append("price <= %s")
        params.append(float(f.price_max))
    if f.exclude_products:
        clauses.append("product_id <> ALL(%s)")
        params.append([str(p) for p in f.exclude_products])
    return " AND ".join(clauses)


def build_query(q: np.ndarray, k: int, filters: Filters | None) -> tuple[str, list]:
    """The nearest-neighbour query: filters in the WHERE clause of the index scan."""
    params: list = [vector_literal(q)]
    where = _where(filters, params)
    params.append(int(k))
    sql = (
        f"SELECT analysis_id, product_id, image_id, embedding <#> %s::{COLUMN_TYPE} AS distance "
        f"FROM {TABLE} WHERE {where} ORDER BY distance LIMIT %s"
    )
    return sql, params


class PgVectorIndex(VectorIndex):
    name = "pgvector"

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def _configure(self, cursor, filters: Filters | None) -> None:
        """The query's settings, ``SET LOCAL``: they end with its transaction, never leak to the connection's other queries."""
        ef = int(jv_settings.HNSW["ef_search"])
        f = filters or Filters()
        if f.types or f.metals or f.metal_tones or f.price_min is not None or f.price_max is not None:
            # A selective filter needs a wider beam for the same recall: bench-similar at 1M photos
            # (filter 4.5 %), recall@10 0.93 at 2x ef_search, 0.97 at 4x (p95 9.9-10.3 ms there).
            ef *= 4
        # enable_seqscan off: the vectors live in TOAST, so the planner prices a scan of the small
        # main table as cheap and, from ef_search ~200 (or a filter), picks it over HNSW: an exact
        # scan that detoasts every vector (~190 ms at 100k photos; bench-similar).
        cursor.execute(f"SET LOCAL hnsw.ef_search = {min(ef, 1000)}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
                       "SET LOCAL enable_seqscan = off")

    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        q = normalise(vector)
        if k <= 0:
            return []
        sql, params = build_query(q, k, filters)
        conn = connections[self.using]
        with transaction.atomic(using=self.using), conn.cursor() as cur:
            self._configure(cur, filters)
            cur.execute(sql, params)
            rows = cur.fetchall()
        # relaxed_order may return rows slightly out of order.
        hits = [Hit(int(a), str(p), str(i), -float(d)) for a, p, i, d in rows]
        hits.sort(key=lambda h: (-h.score, h.key))
        return hits

    def vectors_of(self, product_id: str) -> np.ndarray:
        ids = VectorItem.objects.using(self.using).filter(product_id=str(product_id)).values("analysis_id")
        blobs = StoredEmbedding.objects.using(self.using).filter(analysis_id__in=ids).values_list("vector", flat=True)
        vectors = [np.frombuffer(bytes(v), dtype="<f4") for v in blobs]
        return np.stack(vectors) if vectors else np.zeros((0, DEFAULT_DIM), np.float32)

    def count(self) -> int:
        with connections[self.using].cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {TABLE} WHERE embedding IS NOT NULL")
            return int(cur.fetchone()[0])


    def stats(self) -> dict:
        return {"backend": self.name, "items": self.count(), "dim": column_dim(self.using), "hnsw": dict(jv_settings.HNSW)}


def set_embeddings(using: str, items: Sequence[tuple[int, np.ndarray]]) -> None:
    """Write the vectors of some index rows (inside the caller's transaction)."""
    if not items:
        return
    with connections[using].cursor() as cur:
        cur.executemany(
            f"UPDATE {TABLE} SET embedding = %s::{COLUMN_TYPE} WHERE analysis_id = %s",
            [(vector_literal(v), int(key)) for key, v in items],
        )


def bulk_load(using: str, rows: Iterable[tuple], dim: int) -> int:
    """Replace the whole table with ``rows`` by binary COPY, then build the HNSW index.

    ``rows``: (analysis_id, image_id, product_id, in_stock, price, item_type, metal, metal_tone, vector).
    """

    conn = connections[using]
    hnsw = jv_settings.HNSW
    started = time.perf_counter()
    count = 0
    with transaction.atomic(using=using):
        install(using, dim, create_index=False)
        conn.ensure_connection()
        register_vector(conn.connection)  # before the cursor: it copies the adapters
        with conn.cursor() as cur:
            cur.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
            cur.execute(f"DELETE FROM {TABLE}")
            raw = cur.cursor
            with raw.copy(
                f"COPY {TABLE} (analysis_id, image_id, product_id, in_stock, price, item_type, metal, metal_tone, "
                "updated_at, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(
                    ["int8", "varchar", "varchar", "bool", "float8", "varchar", "varchar", "varchar", "timestamptz", COLUMN_TYPE]
                )
                now = timezone.now()
                for r in rows:
                    copy.write_row((*r[:8], now, HalfVector(np.asarray(r[8], dtype=np.float32))))
                    count += 1
            cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cur.execute("SET LOCAL max_parallel_maintenance_workers = 1")
            cur.execute(
                f"CREATE INDEX {HNSW_INDEX} ON {TABLE} USING hnsw (embedding {OPS}) "
                f"WITH (m = {int(hnsw['m'])}, ef_construction = {int(hnsw['ef_construction'])})"
            )
            create_type_indexes(cur, count)
            cur.execute(f"ANALYZE {TABLE}")
    prewarm(using)
    logger.info("pgvector index loaded %d photos in %.1fs", count, time.perf_counter() - started)
    return count


def prewarm(using: str = "default") -> bool:
    """Load the index table and its HNSW indexes into shared buffers (``pg_prewarm``), if installed.

    A freshly built or restarted index otherwise answers its first thousands of queries
    from disk or the OS cache, several times slower. Best effort: False when the
    extension is not available or the role may not create it.
    """
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cur:
            prewarm_relations(cur, TABLE, HNSW_INDEX)
        return True
    except DatabaseError as exc:
        logger.info("pg_prewarm not available (%s); the index warms up as it is used", exc)
        return False


def prewarm_relations(cursor, table: str, index_prefix: str) -> None:
    """``pg_prewarm`` a table, its TOAST relation (where vectors live) and its indexes named ``index_prefix*``.

    ``cursor``: a DB-API cursor with ``%s`` parameters (Django's, or psycopg's in the benchmark).
    """
    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s", [table, f"{index_prefix}%"])
    for name in [table] + [row[0] for row in cursor.fetchall()]:
        cursor.execute("SELECT pg_prewarm(%s::regclass)", [f'"{name}"'])
    cursor.execute("SELECT pg_prewarm(reltoastrelid) FROM pg_class WHERE oid = %s::regclass AND reltoastrelid <> 0", [table])


#: A type with at least this many photos (and this share) gets its own partial HNSW index.
TYPE_INDEX_MIN_ROWS = 2000
TYPE_INDEX_MIN_SHARE = 0.05


def create_type_indexes(cur, total: int) -> list[str]:
    """Partial HNSW indexes for the common types (``WHERE item_type = 'ring'``).

    A query filtered to one type then walks a graph of that type only instead
    of skipping through everyone else's neighbours (measured with
    ``bench-similar``). New rows enter them automatically.
    """
    hnsw = jv_settings.HNSW
    cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s", [TABLE, f"{HNSW_INDEX}_t%"])
    for (name,) in cur.fetchall():
        cur.execute(f'DROP INDEX IF EXISTS "{name}"')
    cur.execute(f"SELECT item_type, count(*) FROM {TABLE} WHERE item_type <> '' GROUP BY item_type")
    created = []
    for item_type, n in cur.fetchall():
        if n < TYPE_INDEX_MIN_ROWS or n < TYPE_INDEX_MIN_SHARE * total:
            continue
        name = f"{HNSW_INDEX}_t{hashlib.sha1(item_type.encode()).hexdigest()[:10]}"
        cur.execute(
            f'CREATE INDEX "{name}" ON {TABLE} USING hnsw (embedding {OPS}) '
            f"WITH (m = {int(hnsw['m'])}, ef_construction = {int(hnsw['ef_construction'])}) WHERE item_type = %s",
            [item_type],
        )
        created.append(name)
    return created
