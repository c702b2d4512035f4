"""Facets a shop teaches by example (style: minimalist, vintage, luxury, ethnic, ...).

No labelled data exists for such facets, so none ship with the pipeline. A shop
labels some of its own products (staff accept or add ``style:...`` tags), then
``jewel-vision train facet style`` fits a head on those products' embeddings
and writes ``<facet>.npz`` into the pipeline's ``facet_heads_dir``. The
pipeline applies every head it finds there; the file format is the type head's
(:func:`~jewel_vision.vision.predictors.embedding_head.save_head`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .embedding_head import ThresholdedHead
from .type_classifier import ADAPTED_TYPE_FILE

__all__ = ["FacetHead", "find_facet_heads"]


class FacetHead(ThresholdedHead):
    """A head for one facet, loaded from ``<facets_dir>/<facet>.npz``."""

    kind = "facet head"
    trained_by = "jewel-vision train facet <facet>"

    def __init__(self, path: str | os.PathLike[str], device: str = "auto") -> None:
        super().__init__(path, device=device)
        self.facet = Path(path).stem
        self.name = f"facet-{self.facet}"


def find_facet_heads(directory: str | os.PathLike[str] | None, device: str = "auto") -> list[FacetHead]:
    """One head per ``*.npz`` in ``directory`` (sorted; none if the folder is missing)."""
    if not directory or not Path(directory).is_dir():
        return []
    # type.npz is the shop's adapted type head (ADAPTED_TYPE_FILE): the pipeline's type head, not a facet head
    return [FacetHead(p, device=device) for p in sorted(Path(directory).glob("*.npz")) if p.name != ADAPTED_TYPE_FILE]
