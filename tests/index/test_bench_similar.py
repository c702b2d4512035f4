"""``jewel-vision bench-similar``: exact ground truth, and the pgvector figures come from the shipped query."""

import numpy as np
import pytest
from django.db import connection

from jewel_vision import bench_similar
from jewel_vision.index import pgvector
from tests.pgvector_required import require_pgvector


def test_ground_truth_is_the_exact_top_k_in_blocks():
    cat = bench_similar.synthetic(2000, n_queries=7, seed=3)
    mask = bench_similar.filter_mask(cat)
    assert 0 < mask.sum() < 2000
    for m in (None, mask):
        scores = cat.queries @ cat.vectors.T
        if m is not None:
            scores = np.where(m, scores, -np.inf)
        brute = [set(np.argsort(-row)[:10].tolist()) for row in scores]
        assert bench_similar.truth(cat, mask=m, block=37) == brute
    # Filtered truth keeps only items that pass the filter.
    assert all(mask[i] for found in bench_similar.truth(cat, mask=mask, block=64) for i in found)


def test_vectors_are_clustered_not_uniform():
    cat = bench_similar.synthetic(2000, n_queries=20, seed=1)
    sims = cat.queries @ cat.vectors.T
    # A query's nearest photo (same design) is far closer than a typical one.
    assert np.median(sims.max(axis=1)) > np.median(sims) + 0.2
    assert 0.2 < float(np.median(sims)) < 0.6  # a shared component, as in real embeddings


@pytest.mark.postgres
@pytest.mark.django_db
def test_pgvector_figures_time_the_shipped_query(jv_env):
    require_pgvector()
    cat = bench_similar.synthetic(2000, n_queries=12, seed=2)
    expected = bench_similar.truth(cat)
    expected_f = bench_similar.truth(cat, mask=bench_similar.filter_mask(cat))
    out = bench_similar.bench_pgvector(cat, expected, expected_f, connection.alias, ef_search=(40,))
    # The SQL the benchmark timed is build_query's, plain and filtered, after the backend's session settings.
    q = cat.queries[0]
    assert pgvector.build_query(q, 10, None)[0] in out["sql"]["plain"]
    assert pgvector.build_query(q, 10, bench_similar.filters())[0] in out["sql"]["filtered"]
    assert any("hnsw.iterative_scan = relaxed_order" in s for s in out["sql"]["filtered"])
    # On the shipped schema and index: a halfvec column, install()'s HNSW index.
    assert "USING hnsw (embedding halfvec_ip_ops)" in out["index_definition"]
    assert pgvector.column() == ("halfvec", 1280)
    assert out["index_mb"] > 0 and out["index_build_seconds"] >= 0
    assert out["recall_at_10"] >= 0.9 and out["recall_at_10_filtered"] >= 0.9
    assert set(out["ef_search_sweep"]) == {"40"}

