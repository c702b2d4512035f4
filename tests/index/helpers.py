"""Shared fixtures for the shopper-facing tests (index, similarity, API, browser).

Import the fixtures you need into a test module (``from tests.index.helpers import *``).

Products get real photos (drawn pieces), real analyses and real embeddings
of those photos from the pipeline's embedder; only the tags are given, as a
tagging model would return them, so each test knows the truth it checks.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import photo_bytes

__all__ = ["embed_photo", "embed_photos", "ensure_type_head", "jv_env", "catalog", "TYPE_HEAD_CLASSES", "_type_head"]

TYPE_HEAD_CLASSES = ["bracelet", "earring", "necklace", "ring"]
_vectors: dict[tuple, np.ndarray] = {}
_embedder = None


def _get_embedder():
    global _embedder
    if _embedder is None:
        from jewel_vision.vision.predictors.embedder import Embedder

        _embedder = Embedder(device="cpu", batch_size=8)
    return _embedder


CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "test-cache"


def _disk_cache() -> dict[str, np.ndarray]:
    global _disk
    if _disk is None:
        _disk = {}
        path = CACHE_DIR / f"embeddings-{_get_embedder().full_name.replace('@', '-')}.npz"
        if path.exists():
            try:
                with np.load(path) as data:
                    _disk = {k: data[k] for k in data.files}
            except Exception:  # noqa: BLE001 - a broken cache is recomputed
                _disk = {}
    return _disk


def _save_disk_cache() -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"embeddings-{_get_embedder().full_name.replace('@', '-')}.npz"
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **_disk_cache())
    tmp.replace(path)


_disk: dict[str, np.ndarray] | None = None


def embed_photos(keys: list[tuple[str, str, int]]) -> list[np.ndarray]:
    """Real embeddings of the drawn photos ``photo_bytes(kind, metal, seed)``, computed in one batch.

    Cached in memory and under ``var/test-cache`` by a hash of the drawn pixels,
    so a change to the drawings or the embedder is never served stale.
    """
    import hashlib

    from shop.catalog import draw_item

    images = {k: draw_item(k[0], k[1], random.Random(k[2])) for k in keys if k not in _vectors}
    digests = {k: hashlib.sha1(img.tobytes()).hexdigest() for k, img in images.items()}
    disk = _disk_cache()
    missing = [k for k in images if digests[k] not in disk]
    if missing:
        vectors = _get_embedder().embed([images[k] for k in missing])
        for k, v in zip(missing, vectors):
            disk[digests[k]] = v
        _save_disk_cache()
    for k in images:
        _vectors[k] = disk[digests[k]]
    return [_vectors[k] for k in keys]


def embed_photo(kind: str = "ring", metal: str = "gold", seed: int = 0) -> np.ndarray:
    """The real embedding of the drawn photo ``photo_bytes(kind, metal, seed)``."""
    return embed_photos([(kind, metal, seed)])[0]


def ensure_type_head(folder: Path) -> str | None:
    """A type head for the pipeline when the trained one is not in the tree yet.

    Nearest class centroid of real embeddings of drawn pieces, written with the
    pipeline's own ``save_head``; None when the real head exists.
    """
    from jewel_vision.vision.predictors.embedding_head import save_head
    from jewel_vision.vision.predictors.type_classifier import DEFAULT_TYPE_HEAD_PATH

    if DEFAULT_TYPE_HEAD_PATH.exists():
        return None
    path = folder / "type_head.npz"
    if not path.exists():
        centroids = []
        embed_photos([(k, m, 100) for k in TYPE_HEAD_CLASSES for m in ("gold", "silver")])
        for kind in TYPE_HEAD_CLASSES:
            c = np.mean([embed_photo(kind, m, 100) for m in ("gold", "silver")], axis=0)
            centroids.append(c / np.linalg.norm(c))
        w = np.stack(centroids).astype(np.float32) * 20.0
        b = (-0.5 * (w * w).sum(axis=1) / 20.0).astype(np.float32)
        save_head(path, [(w, b)], TYPE_HEAD_CLASSES, np.full(len(TYPE_HEAD_CLASSES), 0.5, np.float32),
                  embedder=_get_embedder().full_name, metadata={"note": "test head: nearest centroid of drawn pieces"})
    return str(path)


@pytest.fixture(scope="session")
def _type_head(tmp_path_factory) -> str | None:
    return ensure_type_head(tmp_path_factory.mktemp("heads"))


@pytest.fixture
def jv_env(settings, _type_head, monkeypatch):
    """Settings for these tests: a type head, no broker, index changes seen at once, generous throttles."""
    import jewel_vision.analysis.start as analyses
    from django.core.cache import cache

    from jewel_vision.index import reset_indexes

    conf = dict(settings.JEWEL_VISION)
    conf["INDEX_REFRESH_SECONDS"] = 0
    conf["API_THROTTLE_RATES"] = {"anon": "100000/min", "user": "100000/min", "photo_search": "100000/min"}
    if _type_head:
        conf["PIPELINE"] = {**conf.get("PIPELINE", {}), "type_head_path": _type_head}
    settings.JEWEL_VISION = conf
    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)
    reset_indexes()
    cache.clear()
    yield conf
    reset_indexes()
    cache.clear()


@pytest.fixture
def catalog(jv_env, make_product, add_photo):
    """``catalog(kind, metal, seed, tags=..., **product_fields)``: a product with analysed photos in the index.

    Every tag is predicted with ``confidence`` and the model's per-label ``threshold``.
    """
    from jewel_vision.analysis.start import analyze
    from jewel_vision.analysis.store import store_result
    from jewel_vision.vision.types import AnalysisResult, Embedding, TagPrediction

    def make(kind="ring", metal="gold", seed=0, *, tags=None, photos=1, name=None, price="100.00", stock=3,
             confidence=0.95, threshold=None, **fields):
        product = make_product(name or f"{metal.title()} {kind}", price=price, stock=stock, **fields)
        if tags is None:
            tags = {"type": kind, "metal": metal}
        for view in range(photos):
            s = seed + 1000 * view
            image = add_photo(product, data=photo_bytes(kind=kind, metal=metal, seed=s), name=f"{kind}-{s}.jpg")
            analysis = analyze(image)
            result = AnalysisResult(
                tags=[TagPrediction(f, v, confidence, "test-tagger", "1", threshold) for f, vs in tags.items()
                      for v in ([vs] if isinstance(vs, str) else vs)],
                detections=[], regions=[], texts=[],
                embedding=Embedding(embed_photo(kind, metal, s), "effnet-lite0", "imagenet"),
                timings_ms={}, model_versions={}, width=384, height=384,
            )
            store_result(analysis.pk, result)
        return product

    return make
