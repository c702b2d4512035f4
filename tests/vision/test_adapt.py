"""Adapting a head's last layer to a shop's labelled embeddings (no Django)."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.training.adapt import adapt_last_layer
from jewel_vision.vision.predictors.embedding_head import head_proba


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _clusters(rng: np.random.Generator, n: int, dim: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centres = _unit(rng.normal(size=(3, dim)))
    y = np.repeat(np.arange(3), n)
    x = _unit(centres[y] + 0.05 * rng.normal(size=(len(y), dim)))
    return centres, x, y


def test_a_few_labelled_photos_fix_a_class_the_built_in_head_gets_wrong():
    rng = np.random.default_rng(0)
    centres, x, y = _clusters(rng, 30)
    # the built-in head: right on classes 0 and 1, but calls class 2's photos class 1 (as rings were called earrings)
    w0 = 5 * centres[[0, 1, 1]].copy()
    w0[2] = 5 * centres[2] - 6 * centres[2]  # class 2's own row points away from its photos
    base = [(w0.astype(np.float32), np.zeros(3, np.float32))]
    assert (head_proba(base, x[y == 2]).argmax(1) == 1).all()
    shop = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(3)])  # 5 labelled photos per type
    held = np.setdiff1d(np.arange(len(y)), shop)
    adapted = adapt_last_layer(base, x[shop], y[shop])
    pred = head_proba(adapted, x[held]).argmax(1)
    assert (pred == y[held]).mean() >= 0.95
    assert (head_proba(base, x[held]).argmax(1) == y[held]).mean() < 0.7


def test_the_pull_keeps_the_built_in_head_and_hidden_layers_stay():
    rng = np.random.default_rng(1)
    _, x, y = _clusters(rng, 10)
    hidden = (rng.normal(size=(16, x.shape[1])).astype(np.float32), np.zeros(16, np.float32))
    last = (rng.normal(size=(3, 16)).astype(np.float32), np.zeros(3, np.float32))
    base = [hidden, last]
    held_tight = adapt_last_layer(base, x[:6], y[:6], pull=1e4)
    free = adapt_last_layer(base, x[:6], y[:6], pull=0.0)
    assert np.array_equal(held_tight[0][0], hidden[0]) and np.array_equal(free[0][0], hidden[0])
    assert np.abs(held_tight[1][0] - last[0]).max() < 0.01 < np.abs(free[1][0] - last[0]).max()
    assert held_tight[1][0].dtype == np.float32 and len(held_tight) == 2


def test_bad_examples_are_refused():
    base = [(np.zeros((3, 4), np.float32), np.zeros(3, np.float32))]
    with pytest.raises(ValueError, match="class indices"):
        adapt_last_layer(base, np.ones((2, 4), np.float32), np.array([0, 3]))
    with pytest.raises(ValueError, match="embeddings"):
        adapt_last_layer(base, np.ones((2, 4), np.float32), np.array([0]))
