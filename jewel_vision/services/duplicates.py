"""Near-duplicate photos: a product photo that is a near copy of another product's photo.

Each analysed photo's stored embedding is looked up in the vector index (other products
only); a photo at cosine similarity :data:`NEAR_COPY_SIMILARITY` or more is a near copy
(the same picture re-uploaded, resized, recompressed or lightly cropped). The product's
admin page flags such a photo and shows both side by side. The index holds the photos
shoppers may see (``SHOPPER_QUERYSET``): a copy of a draft's photo is not found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jewel_vision.index import get_index
from jewel_vision.index.base import Filters
from jewel_vision.models import StoredEmbedding

#: Cosine similarity of embeddings from which two photos are near copies.
NEAR_COPY_SIMILARITY = 0.97


@dataclass
class NearCopy:
    analysis_id: int  # the photo's analysis
    other_product_id: str
    other_image_id: str
    similarity: float


def near_copies(analysis_ids: list[int], product_id: str, *, threshold: float = NEAR_COPY_SIMILARITY) -> list[NearCopy]:
    """Near copies, in other products, of the photos analysed by ``analysis_ids`` (one query, one search each)."""
    found = []
    index = get_index()
    exclude = Filters(exclude_products=(str(product_id),))
    for analysis_id, vector in StoredEmbedding.objects.filter(analysis_id__in=analysis_ids).values_list("analysis_id", "vector"):
        for hit in index.search(np.frombuffer(bytes(vector), dtype="<f4"), 3, exclude):
            if hit.score >= threshold:
                found.append(NearCopy(analysis_id, hit.product_id, hit.image_id, float(hit.score)))
    return found
