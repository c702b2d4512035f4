"""The app's tables, one module per concern.

* :mod:`~jewel_vision.models.analysis`: an ``Analysis`` of one photo and what the pipeline
  found in it (``StoredDetection``, ``StoredRegion``, ``StoredText``, ``StoredEmbedding``).
* :mod:`~jewel_vision.models.tags`: the ``Tag`` vocabulary, each analysis's ``Prediction``
  and the ``ProductTag`` rows shoppers and staff see (with :func:`display_threshold`).
* :mod:`~jewel_vision.models.products`: ``ProductLock`` (taken by every change of a
  product's tags) and ``ProductView`` (recommendations).
* :mod:`~jewel_vision.models.index`: the vector index's ``VectorItem`` and ``IndexChange``.
"""

from jewel_vision.models.analysis import Analysis, StoredDetection, StoredEmbedding, StoredRegion, StoredText
from jewel_vision.models.index import IndexChange, VectorItem, VectorProjection
from jewel_vision.models.products import ProductLock, ProductView
from jewel_vision.models.tags import Prediction, ProductTag, Tag, display_threshold
from jewel_vision.models.backoffice import BackfillRun, Inventory, ModelVersion, Review, TaughtHead  # issue 11

__all__ = [
    "Analysis",
    "BackfillRun",
    "IndexChange",
    "ModelVersion",
    "Inventory",
    "Prediction",
    "ProductLock",
    "ProductTag",
    "ProductView",
    "Review",
    "StoredDetection",
    "StoredEmbedding",
    "StoredRegion",
    "StoredText",
    "Tag",
    "TaughtHead",
    "VectorItem",
    "VectorProjection",
    "display_threshold",
]
