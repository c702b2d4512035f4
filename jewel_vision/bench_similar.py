"""``jewel-vision bench-similar``: query speed, recall and build time of the vector index backends.

Synthetic vectors shaped like our embeddings (1280-d, L2-normalised): a
strong shared component (real EfficientNet-Lite0 embeddings of jewelry photos
have a mean of norm ~0.6 and mean pairwise cosine ~0.37), design clusters of
~100 photos, and a power-law spectrum (the top 128 principal directions hold
~90% of the energy, as measured on 400 photos of ``jewelry-types``). Queries
are fresh photos of existing designs (drawn from the same clusters), like a
shopper's photo or a product's own photo.

The exact backend reports ``p50_ms``, ``p95_ms`` (top 10, no filter),
``p95_filtered_ms`` (top 10, in stock + one of five types + a price range,
about 5% of the items), ``recall_at_10`` (against an exact float32 scan) and
``build_seconds``, and a plain float32 scan of every vector as
``float32_full_scan_p95_ms``. It is not a scan itself: it prunes with a
low-dimensional projection and verifies candidates.

The pgvector backend times the product's own code on the shipped table
(``jewel_vision_vectoritem`` with its ``halfvec`` column) in a PostgreSQL of its
own (``--database-url`` names a scratch database: its index table is
replaced): the HNSW index ``install()`` creates, the per-type partial indexes
of ``bulk_load``, and ``PgVectorIndex.search`` with its session settings and
``build_query``'s SQL, at the shipped ``HNSW`` settings and an ``ef_search``
sweep. It reports the same figures plus build time and size of each index, the
SQL it sent, and PostgreSQL's exact scan of the same SQL for 5 queries.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 1280
TYPES = ("ring", "necklace", "earring", "bracelet", "watch")
#: The filtered query: in stock, one type, a price range (``Filters`` keywords).
FILTER_ARGS = {"in_stock": True, "types": ("ring",), "price_min": 100.0, "price_max": 600.0}


def setup_django() -> None:
    """The app's code needs a Django project: ``DJANGO_SETTINGS_MODULE``, default the demo's ``shop.settings``."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    django.setup()


def filters():
    """The filtered query's ``Filters`` (after ``setup_django``: the index package loads the models)."""
    from jewel_vision.index.base import Filters

    return Filters(**FILTER_ARGS)


VECTORS = (
    "synthetic, clustered like real embeddings: L2-normalised sum of a shared mean direction (norm ~0.6 after "
    "normalising), a design-cluster centre (n/100 clusters, ~100 photos each) and per-photo noise, both on a "
    "power-law spectrum (variance ~ rank^-1.2 over 1280 dims); queries are fresh draws from the same clusters; "
    "each cluster has one item type"
)


@dataclass
class Catalogue:
    vectors: np.ndarray  # (n, dim) float32, normalised
    in_stock: np.ndarray
    types: np.ndarray  # str
    prices: np.ndarray
    queries: np.ndarray
    warmup: np.ndarray  # other queries from the same clusters, run untimed first (never scored)


def synthetic(n: int, n_queries: int = 200, dim: int = DIM, seed: int = 0) -> Catalogue:
    rng = np.random.default_rng(seed)
    n_clusters = max(8, n // 100)
    scale = (np.arange(dim) + 1.0) ** -0.6
    scale = (scale / np.linalg.norm(scale))[rng.permutation(dim)].astype(np.float32)
    mean = np.abs(rng.standard_normal(dim)).astype(np.float32)
    mean /= np.linalg.norm(mean)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32) * (scale * 1.1)

    def draw(assign: np.ndarray) -> np.ndarray:
        out = np.empty((assign.size, dim), np.float32)
        for s in range(0, assign.size, 10_000):
            a = assign[s : s + 10_000]
            out[s : s + a.size] = mean + centres[a] + rng.standard_normal((a.size, dim)).astype(np.float32) * (scale * 0.6)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    assign = rng.integers(0, n_clusters, n)
    vectors = draw(assign)
    queries = draw(rng.integers(0, n_clusters, n_queries))
    cluster_type = rng.integers(0, len(TYPES), n_clusters)
    in_stock = rng.random(n) < 0.9
    prices = np.round(rng.uniform(20, 2000, n), 2)
    warmup = draw(rng.integers(0, n_clusters, 50))  # drawn last: the catalogue and queries are those of earlier runs
    return Catalogue(
        vectors=vectors,
        in_stock=in_stock,
        types=np.asarray(TYPES)[cluster_type[assign]],
        prices=prices,
        queries=queries,
        warmup=warmup,
    )


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _timed(fn, queries: np.ndarray) -> tuple[list[float], list]:
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t) * 1000)
    return times, results


def truth(cat: Catalogue, k: int = 10, mask: np.ndarray | None = None, block: int = 50_000) -> list[set[int]]:
    """Exact top ``k`` of every query (float32 scores of every vector, in blocks)."""
    best_s = np.full((len(cat.queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(cat.queries), 0), np.int64)
    for s in range(0, cat.vectors.shape[0], block):
        scores = cat.queries @ cat.vectors[s : s + block].T
        if mask is not None:
            scores = np.where(mask[s : s + block], scores, -np.inf)
        top = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], 1)
        best_i = np.concatenate([best_i, top + s], 1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return [set(row.tolist()) for row in best_i]


def _recall(found: list[list[int]], expected: list[set[int]], k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & e) / k for f, e in zip(found, expected)]))


def _summary(times: list[float], ftimes: list[float], recall: float, build: float, **extra) -> dict:
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(_percentile(times, 95), 3),
        "p95_filtered_ms": round(_percentile(ftimes, 95), 3),
        "recall_at_10": round(recall, 4),
        "build_seconds": round(build, 2),
        **extra,
    }


def filter_mask(cat: Catalogue) -> np.ndarray:
    f = FILTER_ARGS
    return cat.in_stock & np.isin(cat.types, f["types"]) & (cat.prices >= f["price_min"]) & (cat.prices <= f["price_max"])


def bench_exact(cat: Catalogue, expected, expected_f, warmup: int = 10) -> dict:
    from jewel_vision.index.exact_store import ExactStore, ItemAttrs

    n = cat.vectors.shape[0]
    t = time.perf_counter()
    store = ExactStore(cat.vectors.shape[1])
    attrs = [ItemAttrs(in_stock=bool(s), price=float(p), item_type=str(ty)) for s, p, ty in zip(cat.in_stock, cat.prices, cat.types)]
    store.add(np.arange(n), [str(i) for i in range(n)], [str(i) for i in range(n)], cat.vectors, attrs)
    if store.P is None and n >= store.projection_min_items:
        store.fit_projection()
    build = time.perf_counter() - t
    for q in cat.queries[:warmup]:
        store.search(q, 10)
    verified = []

    def plain(q):
        r = store.search(q, 10)
        verified.append(store.last_stats["verified"])
        return [row for row, _ in r]

    times, found = _timed(plain, cat.queries)
    ftimes, ffound = _timed(lambda q: [row for row, _ in store.search(q, 10, filters())], cat.queries)
    # Exactness over what the store holds (float16 copies): must be 1.0.
    stored = store.full[:n].astype(np.float32)
    stored_truth = [set(np.argpartition(-(stored @ q), 9)[:10].tolist()) for q in cat.queries]
    del stored
    # The float32 full scan the exact index replaces, for reference.
    scan_times, _ = _timed(lambda q: np.argpartition(-(cat.vectors @ q), 9)[:10], cat.queries[:50])
    return _summary(
        times,
        ftimes,
        _recall(found, expected),
        build,
        recall_at_10_filtered=round(_recall(ffound, expected_f), 4),
        recall_at_10_vs_stored_float16=round(_recall(found, stored_truth), 4),
        memory_mb=round(store.nbytes / 2**20, 1),
        median_verified=int(statistics.median(verified)),
        float32_full_scan_p95_ms=round(_percentile(scan_times, 95), 3),
    )


#: The Django database alias the benchmark adds for its own PostgreSQL (never the shop's).
BENCH_ALIAS = "jv_bench"


def _captured_sql(using: str, fn) -> list[str]:
    """The SQL statements ``fn()`` sends on connection ``using`` (Django's execute wrapper)."""
    from django.db import connections

    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections[using].execute_wrapper(wrapper):
        fn()
    return seen


def _load_shipped_table(using: str, cat: Catalogue) -> float:
    """Empty the shipped index table and COPY the catalogue into it (its own schema, ``halfvec`` column)."""
    from django.db import connections
    from pgvector.psycopg import register_vector

    from jewel_vision.index import pgvector

    conn = connections[using]
    t = time.perf_counter()
    n, dim = cat.vectors.shape
    pgvector.install(using, dim, create_index=False)  # extension + halfvec column
    conn.ensure_connection()
    register_vector(conn.connection)
    # bulk_load's steps, each timed by the caller: the projection a rebuild of n photos gets, then COPY.
    short_dim = pgvector.projection_dim_for(n, dim)
    fitted = pgvector.fit_projection(cat.vectors, short_dim) if short_dim else None
    with conn.cursor() as cur:
        pgvector.drop_hnsw_indexes(cur)
        cur.execute(f"TRUNCATE {pgvector.TABLE}")  # a scratch table (bulk_load DELETEs, in its transaction)
        projection = pgvector.prepare_projection(using, cur, fitted, n)
        rows = ((i, str(i), f"p{i}", bool(cat.in_stock[i]), float(cat.prices[i]), str(cat.types[i]), "gold", "yellow",
                 cat.vectors[i]) for i in range(n))
        pgvector.copy_rows(cur, rows, projection)
    return time.perf_counter() - t


def _build_shipped_indexes(using: str, n: int) -> dict:
    """The HNSW index exactly as ``install()`` creates it, then the per-type partial indexes of ``bulk_load``."""
    from django.db import connections

    from jewel_vision.index import pgvector

    # In memory: the graph of 1M 1280-d halfvecs is ~3.5 GB; a build that outgrows
    # maintenance_work_mem goes on on disk, several times slower.
    mem_mb = max(1024, int(n * 4.5 / 1024) + 512)
    with connections[using].cursor() as cur:
        cur.execute(f"SET maintenance_work_mem = '{mem_mb}MB'")
        cur.execute("SET max_parallel_maintenance_workers = 1")
        short = pgvector.current_projection(using, cur) is not None
        t = time.perf_counter()
        name = pgvector.create_main_index(cur, short)  # CREATE INDEX ... USING hnsw (col halfvec_ip_ops) WITH (m, ef_construction)
        main = time.perf_counter() - t
        t = time.perf_counter()
        created = pgvector.create_type_indexes(cur, n, short=short)
        partial = time.perf_counter() - t
        cur.execute(f"ANALYZE {pgvector.TABLE}")
        cur.execute("SELECT pg_relation_size(%s::regclass), pg_total_relation_size(%s::regclass)", [name, pgvector.TABLE])
        index_bytes, total_bytes = cur.fetchone()
        cur.execute("SELECT COALESCE(sum(pg_relation_size(indexname::regclass)), 0) FROM pg_indexes "
                    "WHERE tablename = %s AND indexname LIKE %s", [pgvector.TABLE, f"{name}_t%"])
        partial_bytes = int(cur.fetchone()[0])
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        indexdef = cur.fetchone()[0]
    return {
        "index_build_seconds": round(main, 2),
        "type_indexes_build_seconds": round(partial, 2),
        "type_indexes": len(created),
        "index_mb": round(index_bytes / 2**20, 1),
        "type_indexes_mb": round(partial_bytes / 2**20, 1),
        "table_with_indexes_mb": round(total_bytes / 2**20, 1),
        "maintenance_work_mem_mb": mem_mb,
        "index_definition": indexdef,
        "projection_dim": pgvector.projection_dim_for(n, DIM),
    }


def _shipped_queries(using: str, cat: Catalogue, expected, expected_f) -> dict:
    """Time ``PgVectorIndex.search``: its session settings and ``build_query``'s SQL, as the shop runs them."""
    from jewel_vision.conf import jv_settings
    from jewel_vision.index.pgvector import PgVectorIndex

    index = PgVectorIndex(using)
    plain = lambda q: [h.key for h in index.search(q, 10)]
    filtered = lambda q: [h.key for h in index.search(q, 10, filters())]
    # Warm the plans and the pages the prewarm could not hold (at 1M the indexes outgrow shared
    # buffers) with queries that are not timed, as a server that has been answering would be.
    for q in cat.warmup:
        plain(q)
        filtered(q)
    times, found = _timed(plain, cat.queries)
    ftimes, ffound = _timed(filtered, cat.queries)
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(_percentile(times, 95), 3),
        "recall_at_10": round(_recall(found, expected), 4),
        "p50_filtered_ms": round(statistics.median(ftimes), 3),
        "p95_filtered_ms": round(_percentile(ftimes, 95), 3),
        "recall_at_10_filtered": round(_recall(ffound, expected_f), 4),
        "hnsw": dict(jv_settings.HNSW),
    }


def bench_pgvector(
    cat: Catalogue, expected, expected_f, using: str, *, ef_search: tuple[int, ...] = (40, 200), keep_vectors: bool = True,
) -> dict:
    """Load, build and query the shipped ``jewel_vision_vectoritem`` table of database ``using``.

    Everything timed is the product's own code: ``install()``'s HNSW index on the
    ``halfvec`` column, ``create_type_indexes``, and ``PgVectorIndex.search`` (its
    ``SET hnsw.ef_search / hnsw.iterative_scan`` and ``build_query``'s SQL). The SQL
    it sent is in the JSON (``sql``), checked against ``build_query`` by the tests.
    """
    from django.conf import settings
    from django.db import connections, transaction
    from django.test import override_settings

    from jewel_vision.conf import jv_settings
    from jewel_vision.index import pgvector
    from jewel_vision.index.pgvector import PgVectorIndex

    n = cat.vectors.shape[0]
    load = _load_shipped_table(using, cat)
    if not keep_vectors:  # 5 GB at 1M, not needed past the load: room for the in-memory HNSW build
        cat.vectors = np.zeros((0, cat.queries.shape[1]), np.float32)
    build = _build_shipped_indexes(using, n)
    started = time.perf_counter()
    pgvector.prewarm(using)
    prewarm_s = time.perf_counter() - started
    index = PgVectorIndex(using)
    sql_plain = _captured_sql(using, lambda: index.search(cat.queries[0], 10))
    sql_filtered = _captured_sql(using, lambda: index.search(cat.queries[0], 10, filters()))
    shipped = _shipped_queries(using, cat, expected, expected_f)
    with transaction.atomic(using=using), pgvector.query_cursor(using) as cur:
        projection = pgvector.current_projection(using, cur)
        index._configure(cur, filters(), 10, projection)
        sql, params = pgvector.build_query(cat.queries[0], 10, filters(), projection)
        cur.execute("EXPLAIN " + sql, params)
        plan = re.sub(r"'\[[^\]]*\]'", "'[query]'", "\n".join(r[0] for r in cur.fetchall()))
    sweep = {}
    for ef in ef_search:
        user = dict(getattr(settings, "JEWEL_VISION", {}))
        with override_settings(JEWEL_VISION={**user, "HNSW": {**jv_settings.HNSW, "ef_search": int(ef)}}):
            sweep[str(ef)] = _shipped_queries(using, cat, expected, expected_f)
    # PostgreSQL's exact answer to the same SQL (index scans off), a few queries: what HNSW replaces.
    scan_times = []
    with pgvector.query_cursor(using) as cur:
        cur.execute("SET enable_indexscan = off")
        for q in cat.queries[:5]:
            sql, params = pgvector.build_query(q, 10, None)
            t = time.perf_counter()
            cur.execute(sql, params)
            cur.fetchall()
            scan_times.append((time.perf_counter() - t) * 1000)
        cur.execute("RESET enable_indexscan")
        cur.execute("SHOW shared_buffers")
        shared_buffers = cur.fetchone()[0]
    return {
        **shipped,
        "shared_buffers": shared_buffers,
        "load_seconds": round(load, 2),
        **build,
        "build_seconds": round(load + build["index_build_seconds"] + build["type_indexes_build_seconds"], 2),
        "prewarm_seconds": round(prewarm_s, 2),
        "filtered_plan": plan,
        "filtered_plan_uses_type_index": re.search(rf"{pgvector.HNSW_INDEX}(_short)?_t", plan) is not None,
        "sql": {"plain": sql_plain, "filtered": sql_filtered},
        "ef_search_sweep": sweep,
        "exact_scan_ms_5_queries": [round(t, 1) for t in scan_times],
    }


def default_shared_buffers(n: int) -> str:
    """The embedded server's shared_buffers: 2GB up to 300k photos, 3GB above.

    More is not faster here: at a million photos 10GB (room for both 3.9 GB graphs) gave
    p95 8.2 / 13.9 ms against 6.2 / 10.3 with 3GB (2026-12-04, ``--shared-buffers 10GB``; that
    run's JSON was lost with its session's scratch folder; 4 KB pages, no huge pages here).
    """
    return "2GB" if n <= 300_000 else "3GB"


def _bench_database(explicit: str | None, n: int, shared_buffers: str | None = None) -> tuple[str, callable]:
    """A Django alias to a PostgreSQL with pgvector: --database-url, else an embedded server of its own.

    The shop's Django project is set up (``DJANGO_SETTINGS_MODULE``, default the demo's
    ``shop.settings``) for the app's code; the benchmark's database is a separate alias.
    """
    import dj_database_url
    from django.conf import settings
    from django.db import connections

    url = explicit or ""
    stop = lambda: None
    if not url.startswith(("postgres://", "postgresql://")):
        from jewel_vision import embedded_postgres as embedded

        folder = Path(os.environ.get("JEWEL_VISION_VAR_DIR", "var")) / "pg-bench"
        if not embedded.is_running(folder):
            stop = lambda: embedded.stop(folder)
        url = embedded.start(folder, shared_buffers=shared_buffers or default_shared_buffers(n))
    setup_django()
    databases = connections.configure_settings({"default": dict(settings.DATABASES["default"]),
                                                BENCH_ALIAS: dj_database_url.parse(url)})
    connections.settings[BENCH_ALIAS] = databases[BENCH_ALIAS]
    from jewel_vision.models import VectorItem, VectorProjection

    for model in (VectorItem, VectorProjection):
        with connections[BENCH_ALIAS].cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", [model._meta.db_table])
            exists = cur.fetchone()[0] is not None
        if not exists:  # the shipped schema: the models' tables (their migrations' result); install() adds the columns
            with connections[BENCH_ALIAS].schema_editor() as editor:
                editor.create_model(model)
    return BENCH_ALIAS, lambda: (connections[BENCH_ALIAS].close(), stop())


def run(n: int, backends: list[str], *, queries: int = 200, database_url: str | None = None, seed: int = 0,
        shared_buffers: str | None = None, projection_from: int | None = None, log=print) -> dict:
    setup_django()
    if projection_from is not None:  # the shop's HNSW["projection_from"], for this run
        from django.conf import settings

        from jewel_vision.conf import jv_settings

        jv = getattr(settings, "JEWEL_VISION", {})
        settings.JEWEL_VISION = {**jv, "HNSW": {**jv.get("HNSW", {}), "projection_from": projection_from}}
        jv_settings.reload()
    log(f"generating {n} synthetic {DIM}-d vectors and {queries} queries ...")
    cat = synthetic(n, queries, seed=seed)
    expected = truth(cat)
    expected_f = truth(cat, mask=filter_mask(cat))
    out: dict = {
        "n": n,
        "dim": DIM,
        "queries": queries,
        "filter": "in stock, type ring (1 of 5), price 100-600",
        "filter_selectivity": round(float(filter_mask(cat).mean()), 4),
        "vectors": VECTORS,
        "cpu_count": os.cpu_count(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "library default"),
        "load_average_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if "exact" in backends:
        log("exact: building and querying ...")
        out["exact"] = bench_exact(cat, expected, expected_f)
        log(f"exact: {json.dumps(out['exact'])}")
    if "pgvector" in backends:
        using, stop = _bench_database(database_url, n, shared_buffers)
        try:
            log("pgvector: loading the shipped table, building its HNSW indexes and querying ...")
            out["pgvector"] = bench_pgvector(cat, expected, expected_f, using, keep_vectors=False)
            log(f"pgvector: {json.dumps(out['pgvector'])}")
        finally:
            stop()
    if hasattr(os, "getloadavg"):  # a shared machine: the queries' latency depends on what else runs
        out["load_average_at_end"] = round(os.getloadavg()[0], 2)
    if "exact" in out and "pgvector" in out:
        out["pgvector_p95_vs_exact_p95"] = round(out["pgvector"]["p95_ms"] / out["exact"]["p95_ms"], 3)
    return out


def main(args) -> int:
    backends = [args.backend] if args.backend else ["exact", "pgvector"]
    result = run(args.n, backends, queries=args.queries, database_url=args.database_url, seed=args.seed,
                 shared_buffers=getattr(args, "shared_buffers", None),
                 projection_from=getattr(args, "projection_from", None), log=lambda m: print(m, file=sys.stderr))
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0
