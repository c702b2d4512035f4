"""The retrieval projection head's file format."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.vision.predictors.retrieval_head import (
    RetrievalHead,
    save_retrieval_head,
)


def test_head_roundtrip_gives_unit_vectors(tmp_path):
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(32, 1280)).astype(np.float32), rng.normal(size=32).astype(np.float32)
    version = save_retrieval_head(tmp_path / "h.npz", w, b, "effnet-lite0@imagenet", {"note": "test"})
    head = RetrievalHead(tmp_path / "h.npz")
    assert head.version == version and head.dim == 32 and head.embedder_name == "effnet-lite0@imagenet"
    out = head.project(rng.normal(size=(5, 1280)))
    assert out.shape == (5, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(head.project(np.zeros(1280) + 1.0)[0], head.project(np.ones((1, 1280)))[0])


def test_head_with_mismatched_bias_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(8, 1280)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    np.savez(tmp_path / "bad.npz", W=w, b=b, embedder=np.asarray("x"))
    with pytest.raises(ValueError, match="must be"):
        RetrievalHead(tmp_path / "bad.npz")
