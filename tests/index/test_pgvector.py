"""The pgvector backend on a real PostgreSQL with pgvector: HNSW used, filters inside the index scan."""

import numpy as np
import pytest
from django.db import connection

from jewel_vision.index import Filters, pgvector
from jewel_vision.models import VectorItem
from tests.pgvector_required import require_pgvector

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _needs_pgvector(jv_env):
    require_pgvector()  # skips on SQLite, fails on PostgreSQL without the extension


@pytest.fixture
def rows():
    """200 photos of random products: types ring/necklace/watch (watch rare), prices 0..990."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((200, 1280)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    types = ["watch" if i % 40 == 0 else ("ring", "necklace")[i % 2] for i in range(200)]
    VectorItem.objects.bulk_create(
        VectorItem(analysis_id=i + 1, image_id=str(i), product_id=f"p{i}", in_stock=i % 3 != 0, price=float(i * 5),
                   item_type=types[i], metal="gold" if i % 4 else "silver")
        for i in range(200)
    )
    pgvector.set_embeddings("default", [(i + 1, vectors[i]) for i in range(200)])
    return vectors, types


def plan(sql_params):
    with pgvector.query_cursor() as cur:
        cur.execute("SET enable_seqscan = off")  # a 200-row table would otherwise be scanned
        cur.execute("EXPLAIN " + sql_params[0], sql_params[1])
        text = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("RESET enable_seqscan")
    return text


def backend_sql(filters, k=10):
    return pgvector.build_query(np.ones(1280, np.float32) / np.sqrt(1280), k, filters)


def test_the_embedding_column_and_hnsw_index_exist():
    # Half-precision: the table and the HNSW index take half the memory of float32 vectors.
    assert pgvector.column() == ("halfvec", 1280)
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [pgvector.HNSW_INDEX])
        assert "USING hnsw (embedding halfvec_ip_ops)" in cur.fetchone()[0]


def test_a_float32_column_of_an_earlier_version_becomes_halfvec_in_place(rows):
    with connection.cursor() as cur:
        cur.execute(f"DROP INDEX {pgvector.HNSW_INDEX}")
        cur.execute(f"ALTER TABLE {pgvector.TABLE} ALTER COLUMN embedding TYPE vector(1280) USING embedding::vector(1280)")
    assert pgvector.column() == ("vector", 1280)
    before = backend_sql(Filters())
    assert pgvector.install(dim=1280) is False  # converted, not recreated: no refill needed
    assert pgvector.column() == ("halfvec", 1280)
    with pgvector.query_cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {pgvector.TABLE} WHERE embedding IS NOT NULL")
        assert cur.fetchone()[0] > 0
        cur.execute(*before)
        assert cur.fetchall()  # the shipped query runs on the converted column


def test_the_query_vector_is_bound_in_binary(rows, monkeypatch):
    """No Python text formatting of 1,280 floats per query: the vector goes as a binary halfvec."""
    import weakref

    from django.db.backends.postgresql.base import ServerBindingCursor
    from pgvector import HalfVector

    vectors, _ = rows
    monkeypatch.setattr(pgvector, "_vector_types_on", weakref.WeakSet())  # as on a new connection
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, params, type(context["cursor"].cursor)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        hits = pgvector.PgVectorIndex().search(vectors[3], 5)
    assert hits[0].key == 4 and hits[0].score == pytest.approx(1.0, abs=1e-3)
    sql, params, cursor_type = next(q for q in seen if "<#>" in q[0])
    assert "<#>" in sql and isinstance(params[0], HalfVector) and issubclass(cursor_type, ServerBindingCursor)
    assert np.allclose(params[0].to_numpy(), vectors[3], atol=1e-3)


def test_repeated_filtered_queries_keep_custom_plans(rows):
    """With prepare_threshold set, psycopg prepares a server-bound query; a generic plan would miss the per-type indexes."""
    vectors, types = rows
    index = pgvector.PgVectorIndex()
    answers = [index.search(vectors[i], 5, Filters(types=("ring",))) for i in range(8)]
    assert all(types[h.key - 1] == "ring" for hits in answers for h in hits)
    with connection.cursor() as cur:  # SET LOCAL lasts until the test's transaction ends
        cur.execute("SHOW plan_cache_mode")
        assert cur.fetchone()[0] == "force_custom_plan"


def test_filtered_queries_use_the_hnsw_index(rows):
    sql = backend_sql(Filters(in_stock=True, types=("ring", "necklace"), price_min=10, price_max=500,
                              exclude_products=("p3",)))
    text = plan(sql)
    assert pgvector.HNSW_INDEX in text and "Filter" in text


def test_filters_give_exact_answers_on_small_data(rows):
    vectors, types = rows
    index = pgvector.PgVectorIndex()
    q = vectors[10]
    f = Filters(in_stock=True, metals=("gold",), price_min=30, price_max=600, exclude_products=("p10",))
    got = [h.key - 1 for h in index.search(q, 5, f)]
    ok = [i for i in range(200) if i % 3 != 0 and i % 4 and 30 <= i * 5 <= 600 and i != 10]
    expected = sorted(ok, key=lambda i: -float(vectors[i] @ q))[:5]
    assert got == expected
    # A rare type still returns every match (iterative index scans), with HNSW forced.
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
    watches = index.search(q, 10, Filters(types=("watch",)))
    assert sorted(h.product_id for h in watches) == sorted(f"p{i}" for i in range(200) if types[i] == "watch")


def test_common_types_get_partial_indexes(rows, monkeypatch):
    monkeypatch.setattr(pgvector, "TYPE_INDEX_MIN_ROWS", 50)
    with connection.cursor() as cur:
        created = pgvector.create_type_indexes(cur, 200)
    assert len(created) == 2  # ring and necklace, not the rare watch
    text = plan(backend_sql(Filters(in_stock=True, types=("ring",))))
    assert any(name in text for name in created), text
    with connection.cursor() as cur:  # the type graphs get their own, wider, build beam
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [created])
        assert all("ef_construction='200'" in row[0] for row in cur.fetchall())
    with connection.cursor() as cur:  # only: the sweep benchmark builds one type's graph
        (ring,) = pgvector.create_type_indexes(cur, 200, only=("ring", "watch"))
        cur.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", [f"{pgvector.HNSW_INDEX}_t%"])
        assert [r[0] for r in cur.fetchall()] == [ring]


def test_prewarm_loads_table_and_index_into_shared_buffers(rows):
    assert pgvector.prewarm() is True  # the embedded PostgreSQL ships pg_prewarm
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'")
        assert cur.fetchone() is not None
        # pg_prewarm returns the blocks it read; the index is now in the buffer cache
        cur.execute("SELECT pg_prewarm(%s::regclass)", [pgvector.HNSW_INDEX])
        assert cur.fetchone()[0] > 0


def clustered(n: int, seed: int = 3) -> np.ndarray:
    """Unit vectors around 20 centres on a power-law spectrum, like real embeddings (a PCA has something to keep)."""
    rng = np.random.default_rng(seed)
    scale = (np.arange(1280) + 1.0) ** -0.6
    centres = rng.standard_normal((20, 1280)) * scale
    v = 0.5 + centres[rng.integers(0, 20, n)] + rng.standard_normal((n, 1280)) * scale * 0.6
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def index_rows(vectors, types):
    return [(i + 1, str(i), f"p{i}", i % 3 != 0, float(i), types[i], "gold", "yellow", vectors[i]) for i in range(len(vectors))]


@pytest.fixture
def projected(settings):
    """A rebuild of 600 photos with projection_from lowered to 500: the graphs are on a 256-d projection."""
    settings.JEWEL_VISION = {**getattr(settings, "JEWEL_VISION", {}),
                             "HNSW": {"m": 16, "ef_construction": 64, "ef_search": 100, "projection_dim": 256, "projection_from": 500}}
    vectors = clustered(610)[:600]  # the last 10: queries from the same clusters (QUERIES)
    types = [("ring", "necklace")[i % 2] for i in range(600)]
    assert pgvector.bulk_load("default", index_rows(vectors, types), 1280) == 600
    return vectors, types


def index_names():
    with connection.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                    [pgvector.TABLE, "%USING hnsw%"])
        return dict(cur.fetchall())


def test_a_large_rebuild_builds_its_graphs_on_a_projection_fitted_on_the_catalogue(projected):
    projection = pgvector.current_projection()
    assert projection is not None and projection.components.shape == (1280, 256)
    assert pgvector.column(name=pgvector.SHORT_COLUMN) == ("halfvec", 256)
    names = index_names()
    assert pgvector.SHORT_INDEX in names and pgvector.HNSW_INDEX not in names  # no full-size graph to keep in memory
    assert f"USING hnsw ({pgvector.SHORT_COLUMN} halfvec_ip_ops)" in names[pgvector.SHORT_INDEX]
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {pgvector.TABLE} WHERE {pgvector.SHORT_COLUMN} IS NOT NULL")
        assert cur.fetchone()[0] == 600
    # The axes are the catalogue's principal ones: the first keeps more of its variance than a random axis.
    vectors, _ = projected
    centred = vectors - projection.mean
    first = np.var(centred @ projection.components[:, 0])
    random_axis = np.random.default_rng(0).standard_normal(1280)
    assert first > 5 * np.var(centred @ (random_axis / np.linalg.norm(random_axis)))


def test_projected_queries_rerank_on_the_full_embedding(projected):
    vectors, types = projected
    index = pgvector.PgVectorIndex()
    sql, _ = pgvector.build_query(vectors[0], 10, None, pgvector.current_projection())
    assert f"ORDER BY {pgvector.SHORT_COLUMN} <#>" in sql and "LIMIT %s) AS candidates ORDER BY distance" in sql
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
    hits_found = 0
    for q in clustered(610)[600:]:
        hits = index.search(q, 10)
        exact = np.argsort(-(vectors @ q))[:10]
        hits_found += len({h.key - 1 for h in hits} & set(exact.tolist()))
        # Scores are the full embedding's cosines, not the projection's.
        for h in hits:
            assert h.score == pytest.approx(float(vectors[h.key - 1] @ q), abs=2e-3)
    assert hits_found >= 95  # recall@10 over 10 queries >= 0.95
    f = Filters(in_stock=True, types=("ring",), price_min=100, price_max=400)
    q = vectors[7]
    got = [h.key - 1 for h in index.search(q, 5, f)]
    ok = [i for i in range(600) if i % 3 != 0 and types[i] == "ring" and 100 <= i <= 400]
    assert got == sorted(ok, key=lambda i: -float(vectors[i] @ q))[:5]


def test_new_photos_enter_the_short_column_and_a_small_rebuild_drops_the_projection(projected, settings):
    vectors, _ = projected
    extra = clustered(610)[605]
    VectorItem.objects.create(analysis_id=10_001, image_id="x", product_id="px", item_type="ring")
    pgvector.set_embeddings("default", [(10_001, extra)])
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
    assert pgvector.PgVectorIndex().search(extra, 1)[0].product_id == "px"
    # Fewer photos than projection_from: the full-size graph comes back and the basis goes.
    assert pgvector.bulk_load("default", index_rows(vectors[:100], ["ring"] * 100), 1280) == 100
    assert pgvector.current_projection() is None
    names = index_names()
    assert pgvector.HNSW_INDEX in names and pgvector.SHORT_INDEX not in names
    assert pgvector.PgVectorIndex().search(vectors[5], 1)[0].key == 6
