"""The exact in-process store: same answers as a brute-force scan, filters inside, updates."""

import numpy as np
import pytest

from jewel_vision.bench_similar import synthetic
from jewel_vision.index.base import Filters
from jewel_vision.index.exact_store import ExactStore, ItemAttrs


@pytest.fixture(scope="module")
def data():
    cat = synthetic(6000, n_queries=40, dim=256, seed=3)
    n = cat.vectors.shape[0]
    attrs = [ItemAttrs(in_stock=bool(s), price=float(p), item_type=str(t), metal=("gold", "silver")[i % 2])
             for i, (s, p, t) in enumerate(zip(cat.in_stock, cat.prices, cat.types))]
    store = ExactStore(cat.vectors.shape[1], proj_dim=32, projection_min_items=2000)
    store.add(np.arange(n) + 10, [f"p{i // 2}" for i in range(n)], [f"i{i}" for i in range(n)], cat.vectors, attrs)
    return cat, store, attrs


def brute(store, q, k, mask=None):
    n = store.n
    scores = store.full[:n].astype(np.float32) @ q
    scores[~store.alive[:n]] = -np.inf
    if mask is not None:
        scores[~mask] = -np.inf
    order = np.lexsort((np.arange(n), -scores))[:k]
    return [int(r) for r in order if np.isfinite(scores[r])]


def test_projection_is_used_and_answers_are_exact(data):
    cat, store, _ = data
    assert store.P is not None and store.P.shape == (32, 256)
    np.testing.assert_allclose(store.P @ store.P.T, np.eye(32), atol=1e-4)  # orthonormal rows
    verified = []
    for q in cat.queries:
        got = store.search(q, 10)
        assert [r for r, _ in got] == brute(store, q, 10)
        verified.append(store.last_stats["verified"])
    # ... while scoring far fewer items exactly than a full scan.
    assert np.median(verified) < store.n / 20


def test_filters_apply_inside_the_scan(data):
    cat, store, attrs = data
    n = store.n
    f = Filters(in_stock=True, types=("ring", "watch"), metals=("gold",), price_min=100, price_max=900,
                exclude_products=("p1", "p2"))
    mask = (store.in_stock[:n] & np.isin(cat.types, ["ring", "watch"]) & (np.arange(n) % 2 == 0)
            & (cat.prices >= 100) & (cat.prices <= 900) & ~np.isin(np.arange(n) // 2, [1, 2]))
    for q in cat.queries[:10]:
        got = store.search(q, 10, f)
        assert [r for r, _ in got] == brute(store, q, 10, mask)
        for row, _ in got:
            a = attrs[row]
            assert a.in_stock and a.item_type in ("ring", "watch") and a.metal == "gold" and 100 <= a.price <= 900
    # A value nobody has matches nothing; excluding an unknown type excludes nothing.
    assert store.search(cat.queries[0], 5, Filters(types=("tiara",))) == []
    assert len(store.search(cat.queries[0], 5, Filters(exclude_types=("tiara",)))) == 5


def test_updates_removals_and_compaction():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    store = ExactStore(32, proj_dim=8, projection_min_items=500)
    store.add(range(3000), [str(i % 1000) for i in range(3000)], [str(i) for i in range(3000)], x)
    q = x[5]
    assert store.row_info(store.search(q, 1)[0][0]) == (5, "5", "5")
    assert store.remove_product("5") == 3
    assert all(store.row_info(r)[1] != "5" for r, _ in store.search(q, 50))
    # Re-adding a key replaces it.
    store.add([7], ["new"], ["img"], x[5:6])
    assert store.row_info(store.search(q, 1)[0][0]) == (7, "new", "img")
    store.set_product_attrs("new", ItemAttrs(in_stock=False))
    assert store.search(q, 1, Filters(in_stock=True))[0][0] != store.row_of_key[7]
    store.remove(list(range(0, 3000, 2)))
    assert store.n_dead == 0 and len(store) == store.n  # compacted
    for query in x[:20]:
        assert [r for r, _ in store.search(query, 5)] == brute(store, query, 5)


def test_small_stores_scan_everything_and_empty_ones_answer_nothing():
    store = ExactStore(4)
    assert store.search(np.ones(4, np.float32), 3) == []
    store.add([1, 2], ["a", "b"], ["x", "y"], np.eye(4, dtype=np.float32)[:2])
    assert store.P is None
    assert [store.row_info(r)[0] for r, _ in store.search(np.array([0, 1, 0, 0], np.float32), 5)] == [2, 1]
    with pytest.raises(ValueError):
        store.search(np.ones(3, np.float32), 1)
