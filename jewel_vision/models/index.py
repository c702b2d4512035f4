"""Tables of the vector index, kept in sync with the analyses inside the same transactions.

``VectorItem``: one row per indexed photo (a current, finished analysis with an
embedding), with the product's filter attributes denormalised next to it, so a
query filters in the index (in stock, type, metal, metal tone, price range)
instead of afterwards. On PostgreSQL with pgvector the table also has an
``embedding vector(N)`` column with an HNSW index; that column is added with
raw SQL (see :mod:`jewel_vision.index.pgvector`) because SQLite has no such
type, so Django does not know about it.

``IndexChange``: an append-only log of products whose index rows changed.
In-process indexes (the exact backend) in every web process read it to catch
up with changes made by workers and other processes.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class VectorItem(models.Model):
    analysis_id = models.BigIntegerField(primary_key=True)
    image_id = models.CharField(max_length=64)
    product_id = models.CharField(max_length=64, db_index=True)
    in_stock = models.BooleanField(default=True)
    price = models.FloatField(null=True, blank=True)
    item_type = models.CharField(max_length=64, blank=True, default="")
    metal = models.CharField(max_length=64, blank=True, default="")
    metal_tone = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "jewel_vision"
        # No index on the filter columns: filtered queries must use the HNSW
        # index (with iterative scans), not a B-tree scan plus a sort.

    def __str__(self) -> str:
        return f"index item {self.analysis_id} of product {self.product_id}"

    @property
    def attrs(self) -> dict:
        return {
            "in_stock": self.in_stock,
            "price": self.price,
            "item_type": self.item_type,
            "metal": self.metal,
            "metal_tone": self.metal_tone,
        }


def _token() -> str:
    return uuid.uuid4().hex


class IndexChange(models.Model):
    product_id = models.CharField(max_length=64)
    # Distinguishes a row from one that reuses its id after a rollback (SQLite).
    token = models.CharField(max_length=32, default=_token)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "jewel_vision"

    def __str__(self) -> str:
        return f"index change {self.pk}: product {self.product_id}"


class VectorProjection(models.Model):
    """The PCA basis of pgvector's short column, fitted on the catalogue when the index is rebuilt.

    Opt-in (``HNSW["projection_from"]``): a large catalogue's HNSW graphs are built on
    ``embedding_short``, this projection of each photo's embedding (256 numbers instead of
    1280), and the candidates they return are re-ranked on the full embedding. The graphs
    are 5x smaller; at 1M photos recall fell and queries were no faster
    (``jewel_vision.index.pgvector``). One row at a time; a rebuild replaces it in the same
    transaction that rewrites the short column, so a basis never meets another's vectors.
    """

    dim_in = models.PositiveIntegerField()
    dim_out = models.PositiveIntegerField()
    mean = models.BinaryField()  # float32, dim_in
    components = models.BinaryField()  # float32, dim_in x dim_out, row-major
    fitted_rows = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "jewel_vision"

    def __str__(self) -> str:
        return f"projection {self.dim_in}->{self.dim_out} fitted on {self.fitted_rows} photos"
