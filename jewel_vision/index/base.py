"""The vector index interface shared by the backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Filters:
    """Conditions applied inside the index query (not on its results).

    Empty tuples and ``None`` mean "no condition". ``in_stock=True`` keeps
    products in stock only.
    """

    in_stock: bool | None = None
    types: tuple[str, ...] = ()
    exclude_types: tuple[str, ...] = ()
    metals: tuple[str, ...] = ()
    metal_tones: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    exclude_products: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return self == Filters()

    def with_excluded(self, product_ids: Sequence[str]) -> Filters:
        from dataclasses import replace

        return replace(self, exclude_products=tuple(dict.fromkeys([*self.exclude_products, *map(str, product_ids)])))


@dataclass(frozen=True)
class Hit:
    """One indexed photo found by a query; ``score`` is the cosine similarity."""

    key: int  # the analysis id
    product_id: str
    image_id: str
    score: float


@dataclass
class ProductHit:
    """A product found by a query: its best-matching photo's score."""

    product_id: str
    score: float
    image_id: str
    key: int
    extra: dict = field(default_factory=dict)


def collapse(hits: Sequence[Hit]) -> list[ProductHit]:
    """Best hit per product, best first."""
    best: dict[str, Hit] = {}
    for hit in hits:
        current = best.get(hit.product_id)
        if current is None or hit.score > current.score:
            best[hit.product_id] = hit
    return [
        ProductHit(h.product_id, h.score, h.image_id, h.key)
        for h in sorted(best.values(), key=lambda h: (-h.score, h.product_id))
    ]


class VectorIndex:
    """What every backend provides. Vectors are float32 and L2-normalised."""

    name = "base"

    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` photos most similar to ``vector`` that pass ``filters``, best first."""
        raise NotImplementedError

    def search_products(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[ProductHit]:
        """The ``k`` most similar products (by their best photo)."""
        n = max(k * 3, k + 8)
        while True:
            hits = self.search(vector, n, filters)
            products = collapse(hits)
            if len(products) >= k or len(hits) < n or n >= 50_000:
                return products[:k]
            n *= 4

    def count(self) -> int:
        raise NotImplementedError

    def stats(self) -> dict:
        return {"backend": self.name}


def normalise(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("cannot search with a zero or non-finite vector")
    return v / norm
