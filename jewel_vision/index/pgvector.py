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

Opt-in, for a server whose memory cannot hold full graphs: with ``HNSW["projection_from"]``
set, a rebuild of at least that many photos puts the graphs on ``embedding_short`` instead:
the photo's embedding projected on the catalogue's first ``HNSW["projection_dim"]``
principal components (a ``VectorProjection`` row) and normalised. A query walks that graph
for ``RERANK`` x k candidates and orders them by the full embedding, so the answer's scores
are exact cosines. The graphs are 5x smaller (794 MB instead of 3.9 GB at a million
photos), but recall fell (0.970 / 0.912 filtered, against 0.985 / 0.972) and queries were
no faster (``bench-similar-1m-projection256.json``). Queries read which layout the table
has (one small query), so a rebuild in another process is followed at once.
"""

from __future__ import annotations

import hashlib
import logging
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import DatabaseError, connections, transaction
from django.db.backends.postgresql.base import ServerBindingCursor
from django.utils import timezone
from pgvector import HalfVector
from pgvector.psycopg import register_vector

from jewel_vision.conf import jv_settings
from jewel_vision.index.base import Filters, Hit, VectorIndex, normalise
from jewel_vision.models import StoredEmbedding, VectorItem, VectorProjection

logger = logging.getLogger(__name__)

TABLE = "jewel_vision_vectoritem"
HNSW_INDEX = "jv_vectoritem_hnsw"
DEFAULT_DIM = 1280
#: The column's type: half-precision floats halve the table and the HNSW index (a million
#: 1280-d photos: about 2.6 GB of index instead of 5.1); L2-normalised embeddings lose
#: nothing measurable at 16 bits (recall in ``bench-similar``).
COLUMN_TYPE = "halfvec"
OPS = "halfvec_ip_ops"
SHORT_COLUMN = "embedding_short"
SHORT_INDEX = f"{HNSW_INDEX}_short"
#: Candidates a query takes from the short graph per answer it returns, re-ranked on the full
#: embedding (a prototype at 200k photos: recall@10 0.993 at 4x, no better at 8x).
RERANK = 4
#: Photos a projection is fitted on (a sample of the catalogue).
PROJECTION_SAMPLE = 20_000

_ready_cache: dict[tuple[str, str], int | None] = {}
_projection_cache: dict[tuple[str, str], "Projection"] = {}


@dataclass(frozen=True)
class Projection:
    """The catalogue's PCA basis: ``apply`` maps embeddings to the short column's unit vectors."""

    pk: int
    mean: np.ndarray  # (dim_in,)
    components: np.ndarray  # (dim_in, dim_out)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        z = (np.asarray(vectors, dtype=np.float32) - self.mean) @ self.components
        norms = np.linalg.norm(z, axis=-1, keepdims=True)
        return z / np.maximum(norms, 1e-12)


def fit_projection(vectors: np.ndarray, dim_out: int, *, sample: int = PROJECTION_SAMPLE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and first ``dim_out`` principal axes of (a sample of) ``vectors``."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[0] > sample:
        vectors = vectors[np.random.default_rng(seed).choice(vectors.shape[0], sample, replace=False)]
    mean = vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    return mean.astype(np.float32), np.ascontiguousarray(vt[:dim_out].T, dtype=np.float32)


def save_projection(using: str, mean: np.ndarray, components: np.ndarray, fitted_rows: int) -> Projection:
    """Replace the stored projection (inside the caller's transaction, with the short column's rewrite)."""
    VectorProjection.objects.using(using).all().delete()
    row = VectorProjection.objects.using(using).create(
        dim_in=components.shape[0], dim_out=components.shape[1], mean=mean.astype("<f4").tobytes(),
        components=components.astype("<f4").tobytes(), fitted_rows=int(fitted_rows),
    )
    return Projection(row.pk, mean, components)


def current_projection(using: str = "default", cursor=None) -> Projection | None:
    """The projection the short column holds, or None (the graphs are on the full embedding).

    None without a query while ``HNSW["projection_from"]`` is None (the default: after
    changing the setting, rebuild the index). Else one small query each call: a rebuild in
    another process replaces the basis, and a stale one would project queries into the wrong
    space. The basis itself is cached by its key.
    """
    if jv_settings.HNSW["projection_from"] is None:
        return None
    conn = connections[using]
    if cursor is None:
        with conn.cursor() as cur:
            return current_projection(using, cur)
    cursor.execute(f"SELECT max(id) FROM {VectorProjection._meta.db_table}")
    pk = cursor.fetchone()[0]
    if pk is None:
        return None
    key = (using, str(conn.settings_dict.get("NAME")))
    cached = _projection_cache.get(key)
    if cached is None or cached.pk != pk:
        row = VectorProjection.objects.using(using).get(pk=pk)
        mean = np.frombuffer(bytes(row.mean), dtype="<f4").copy()
        comps = np.frombuffer(bytes(row.components), dtype="<f4").reshape(row.dim_in, row.dim_out).copy()
        cached = _projection_cache[key] = Projection(pk, mean, comps)
    return cached


_vector_types_on: weakref.WeakSet = weakref.WeakSet()


def query_cursor(using: str = "default"):
    """A Django cursor on ``using`` that binds parameters on the server, pgvector's types known.

    The query vector then travels in binary (``halfvec_recv``): writing 1,280 floats as
    text in Python took ~1 ms a query, a tenth of the 10 ms budget at a million photos.
    Django's execute wrappers still see the query. Types are looked up once per connection.
    No prepared statements unless the shop sets ``prepare_threshold`` (Django's default is
    none, which connection poolers such as PgBouncer in transaction mode need).
    """
    conn = connections[using]
    cursor = ServerBindingCursor(vector_types(using))
    return conn.make_debug_cursor(cursor) if conn.queries_logged else conn.make_cursor(cursor)


def vector_types(using: str = "default"):
    """The open psycopg connection of ``using``, pgvector's types registered on it (once per connection).

    Cursors opened afterwards copy its adapters: register before opening one.
    """
    conn = connections[using]
    conn.ensure_connection()
    raw = conn.connection
    if raw not in _vector_types_on:
        register_vector(raw)
        _vector_types_on.add(raw)
    return raw


def query_vector(vector: np.ndarray) -> HalfVector:
    """The query's vector as a parameter: sent in binary by :func:`query_cursor`."""
    return HalfVector(np.asarray(vector, dtype=np.float32))


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


def column(using: str = "default", name: str = "embedding") -> tuple[str, int] | None:
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
            WHERE c.relname = %s AND a.attname = %s AND NOT a.attisdropped
              AND t.typname IN ('vector', 'halfvec') AND pg_table_is_visible(c.oid)
            """,
            [TABLE, name],
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
    _projection_cache.clear()


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
            drop_hnsw_indexes(cur)
            if found[1] != dim:
                cur.execute(f"ALTER TABLE {TABLE} DROP COLUMN embedding")
                found = None
            else:
                cur.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE {COLUMN_TYPE}({int(dim)}) "
                            f"USING embedding::{COLUMN_TYPE}({int(dim)})")
        if found is None:
            cur.execute(f"ALTER TABLE {TABLE} ADD COLUMN embedding {COLUMN_TYPE}({int(dim)})")
            created = True
        if create_index and (created or not _has_projection(cur)):
            # Under a projection the graphs are on the short column (bulk_load builds them).
            cur.execute(
                f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON {TABLE} USING hnsw (embedding {OPS}) "
                f"WITH (m = {int(hnsw['m'])}, ef_construction = {int(hnsw['ef_construction'])})"
            )
    forget_ready_cache()
    return created


def _has_projection(cur) -> bool:
    """Whether a projection is stored (its table exists only from migration 0010 on)."""
    table = VectorProjection._meta.db_table
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
    if not cur.fetchone()[0]:
        return False
    cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
    return bool(cur.fetchone()[0])


def drop_hnsw_indexes(cur) -> None:
    cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s", [TABLE, f"{HNSW_INDEX}%"])
    for (name,) in cur.fetchall():
        cur.execute(f'DROP INDEX IF EXISTS "{name}"')


def _where(filters: Filters | None, params: list, column: str = "embedding") -> str:
    clauses = [f"{column} IS NOT NULL"]
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


def build_query(q: np.ndarray, k: int, filters: Filters | None, projection: Projection | None = None) -> tuple[str, list]:
    """The nearest-neighbour query: filters in the WHERE clause of the index scan.

    With a ``projection``: the short graph's ``RERANK * k`` nearest, ordered again by the full embedding.
    """
    params: list = [query_vector(q)]
    if projection is None:
        where = _where(filters, params)
        params.append(int(k))
        sql = (
            f"SELECT analysis_id, product_id, image_id, embedding <#> %s::{COLUMN_TYPE} AS distance "
            f"FROM {TABLE} WHERE {where} ORDER BY distance LIMIT %s"
        )
        return sql, params
    where = _where(filters, params, SHORT_COLUMN)
    params += [query_vector(projection.apply(q)), int(k) * RERANK, int(k)]
    sql = (
        f"SELECT analysis_id, product_id, image_id, embedding <#> %s::{COLUMN_TYPE} AS distance FROM ("
        f"SELECT analysis_id, product_id, image_id, embedding FROM {TABLE} WHERE {where} "
        f"ORDER BY {SHORT_COLUMN} <#> %s::{COLUMN_TYPE} LIMIT %s) AS candidates ORDER BY distance LIMIT %s"
    )
    return sql, params


def beam_factor(filters: Filters | None) -> float:
    """How many times ``HNSW["ef_search"]`` a query with these filters walks."""
    f = filters or Filters()
    if len(f.types) == 1:
        # One type: its partial index (built with type_ef_construction) does most of the
        # filtering, the rest is what the beam must cover. At 1M photos (in stock + type +
        # price, 4.5 %; benchmarks/hnsw_type_index_sweep.py, seed 0) a type graph built with
        # ef_construction 200 gave recall@10 0.973 at a beam of 148 (p95 8.7 ms), where the
        # graph built with 64 needed 400 for 0.974 (p95 11.2 ms). A type too rare for its own
        # graph (under 5 % of photos) is found by the iterative scan walking on.
        return 1.5
    if f.types or f.metals or f.metal_tones or f.price_min is not None or f.price_max is not None:
        # A selective filter on the main graph needs a wider beam for the same recall:
        # bench-similar at 1M photos, recall@10 0.93 at 2x ef_search, 0.97 at 4x.
        return 4
    return 1


class PgVectorIndex(VectorIndex):
    name = "pgvector"

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def _configure(self, cursor, filters: Filters | None, k: int = 10, projection: Projection | None = None) -> None:
        """The query's settings, ``SET LOCAL``: they end with its transaction, never leak to the connection's other queries."""
        ef = int(round(int(jv_settings.HNSW["ef_search"]) * beam_factor(filters)))
        if projection is not None:
            ef = max(ef, int(k) * RERANK)  # the re-ranked candidates come from one beam
        # enable_seqscan off: the vectors live in TOAST, so the planner prices a scan of the small
        # main table as cheap and, from ef_search ~200 (or a filter), picks it over HNSW: an exact
        # scan that detoasts every vector (~190 ms at 100k photos; bench-similar).
        # force_custom_plan: where the shop's DATABASES OPTIONS set prepare_threshold (Django
        # leaves it off, for poolers), psycopg prepares this server-bound query after that many
        # runs, and a generic plan (item_type = $2) could not use the per-type partial indexes.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {min(ef, 1000)}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
                       "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_custom_plan")

    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        q = normalise(vector)
        if k <= 0:
            return []
        with transaction.atomic(using=self.using), query_cursor(self.using) as cur:
            projection = current_projection(self.using, cur)
            self._configure(cur, filters, k, projection)
            sql, params = build_query(q, k, filters, projection)
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
        projection = current_projection(self.using)
        return {"backend": self.name, "items": self.count(), "dim": column_dim(self.using), "hnsw": dict(jv_settings.HNSW),
                "projection_dim": projection.components.shape[1] if projection else None}


def set_embeddings(using: str, items: Sequence[tuple[int, np.ndarray]]) -> None:
    """Write the vectors of some index rows (inside the caller's transaction)."""
    if not items:
        return
    with connections[using].cursor() as cur:
        projection = current_projection(using, cur)
        if projection is None:
            cur.executemany(
                f"UPDATE {TABLE} SET embedding = %s::{COLUMN_TYPE} WHERE analysis_id = %s",
                [(vector_literal(v), int(key)) for key, v in items],
            )
            return
        short = projection.apply(np.stack([np.asarray(v, dtype=np.float32) for _, v in items]))
        cur.executemany(
            f"UPDATE {TABLE} SET embedding = %s::{COLUMN_TYPE}, {SHORT_COLUMN} = %s::{COLUMN_TYPE} WHERE analysis_id = %s",
            [(vector_literal(v), vector_literal(s), int(key)) for (key, v), s in zip(items, short)],
        )


def projection_dim_for(count: int, dim: int) -> int | None:
    """The short column's dimensions a catalogue of ``count`` photos gets at a rebuild, or None (full graphs)."""
    hnsw = jv_settings.HNSW
    short, start = int(hnsw["projection_dim"]), hnsw["projection_from"]
    return short if start is not None and count >= int(start) and short < dim else None


def sample_vectors(rows: Sequence[tuple], size: int = PROJECTION_SAMPLE, seed: int = 0) -> np.ndarray:
    """The vectors (``row[8]``) of a random sample of ``rows``, without stacking them all."""
    picked = np.arange(len(rows)) if len(rows) <= size else np.random.default_rng(seed).choice(len(rows), size, replace=False)
    return np.stack([np.asarray(rows[int(i)][8], dtype=np.float32) for i in picked])


def prepare_projection(using: str, cur, fitted: tuple[np.ndarray, np.ndarray] | None, count: int) -> Projection | None:
    """Store the catalogue's projection and give the table its short column; or forget both (None)."""
    if fitted is None:
        VectorProjection.objects.using(using).all().delete()
        forget_ready_cache()
        return None
    dim_out = fitted[1].shape[1]
    found = column(using, SHORT_COLUMN)
    if found is not None and found[1] != dim_out:
        cur.execute(f"ALTER TABLE {TABLE} DROP COLUMN {SHORT_COLUMN}")
        found = None
    if found is None:
        cur.execute(f"ALTER TABLE {TABLE} ADD COLUMN {SHORT_COLUMN} {COLUMN_TYPE}({int(dim_out)})")
    forget_ready_cache()
    return save_projection(using, fitted[0], fitted[1], count)


def copy_rows(cur, rows: Iterable[tuple], projection: Projection | None, chunk: int = 10_000) -> int:
    """Binary COPY of index rows (the caller registered pgvector's types on the connection).

    ``rows``: (analysis_id, image_id, product_id, in_stock, price, item_type, metal, metal_tone, vector).
    """
    columns = "analysis_id, image_id, product_id, in_stock, price, item_type, metal, metal_tone, updated_at, embedding"
    types = ["int8", "varchar", "varchar", "bool", "float8", "varchar", "varchar", "varchar", "timestamptz", COLUMN_TYPE]
    if projection is not None:
        columns += f", {SHORT_COLUMN}"
        types.append(COLUMN_TYPE)
    now = timezone.now()
    count = 0
    with cur.cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(types)
        batch: list[tuple] = []

        def flush() -> None:
            vectors = np.stack([np.asarray(r[8], dtype=np.float32) for r in batch])
            short = projection.apply(vectors) if projection is not None else None
            for i, r in enumerate(batch):
                values = (*r[:8], now, HalfVector(vectors[i]))
                copy.write_row(values if short is None else (*values, HalfVector(short[i])))

        for r in rows:
            batch.append(r)
            if len(batch) >= chunk:
                flush()
                count += len(batch)
                batch = []
        if batch:
            flush()
            count += len(batch)
    return count


def create_main_index(cur, short: bool) -> str:
    """The HNSW index over every photo: on the full embedding, or on the short column under a projection."""
    hnsw = jv_settings.HNSW
    name, col = (SHORT_INDEX, SHORT_COLUMN) if short else (HNSW_INDEX, "embedding")
    cur.execute(
        f"CREATE INDEX {name} ON {TABLE} USING hnsw ({col} {OPS}) "
        f"WITH (m = {int(hnsw['m'])}, ef_construction = {int(hnsw['ef_construction'])})"
    )
    return name


def bulk_load(using: str, rows: Iterable[tuple], dim: int) -> int:
    """Replace the whole table with ``rows`` by binary COPY, then build the HNSW indexes.

    ``rows``: (analysis_id, image_id, product_id, in_stock, price, item_type, metal, metal_tone, vector).
    From ``HNSW["projection_from"]`` photos the graphs are built on a projection fitted on them.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    conn = connections[using]
    started = time.perf_counter()
    short_dim = projection_dim_for(len(rows), dim)
    fitted = fit_projection(sample_vectors(rows), short_dim) if short_dim else None
    with transaction.atomic(using=using):
        install(using, dim, create_index=False)
        vector_types(using)  # before the cursor: it copies the adapters
        with conn.cursor() as cur:
            drop_hnsw_indexes(cur)
            cur.execute(f"DELETE FROM {TABLE}")
            projection = prepare_projection(using, cur, fitted, len(rows))
            count = copy_rows(cur, rows, projection)
            cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cur.execute("SET LOCAL max_parallel_maintenance_workers = 1")
            create_main_index(cur, projection is not None)
            create_type_indexes(cur, count, short=projection is not None)
            cur.execute(f"ANALYZE {TABLE}")
    prewarm(using)
    logger.info("pgvector index loaded %d photos in %.1fs (projection: %s)", count, time.perf_counter() - started, short_dim)
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


def create_type_indexes(cur, total: int, short: bool = False, only: Sequence[str] | None = None) -> list[str]:
    """Partial HNSW indexes for the common types (``WHERE item_type = 'ring'``).

    A query filtered to one type then walks a graph of that type only instead
    of skipping through everyone else's neighbours (measured with
    ``bench-similar``). New rows enter them automatically. ``only``: of the
    common types, just these (``benchmarks/hnsw_type_index_sweep.py``).
    """
    hnsw = jv_settings.HNSW
    prefix, col = (SHORT_INDEX, SHORT_COLUMN) if short else (HNSW_INDEX, "embedding")
    for old in (HNSW_INDEX, SHORT_INDEX):
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s", [TABLE, f"{old}_t%"])
        for (name,) in cur.fetchall():
            cur.execute(f'DROP INDEX IF EXISTS "{name}"')
    cur.execute(f"SELECT item_type, count(*) FROM {TABLE} WHERE item_type <> '' GROUP BY item_type")
    created = []
    for item_type, n in cur.fetchall():
        if n < TYPE_INDEX_MIN_ROWS or n < TYPE_INDEX_MIN_SHARE * total or (only is not None and item_type not in only):
            continue
        name = f"{prefix}_t{hashlib.sha1(item_type.encode()).hexdigest()[:10]}"
        cur.execute(
            f'CREATE INDEX "{name}" ON {TABLE} USING hnsw ({col} {OPS}) '
            f"WITH (m = {int(hnsw['m'])}, ef_construction = {int(hnsw['type_ef_construction'])}) WHERE item_type = %s",
            [item_type],
        )
        created.append(name)
    return created
