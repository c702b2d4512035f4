"""Per-product rows that are not tags: the lock every tag change takes, and customers' views."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class ProductLock(models.Model):
    """One row per product, locked (``SELECT ... FOR UPDATE``) by whoever changes its tags.

    Aggregation (a worker) and review (a person) both read a product's tags and then
    write them; without a common lock, a model run could delete a tag a person had
    just accepted, and two photos of one product finishing together could both
    create the same tag. See :func:`jewel_vision.services.locking.lock_product`.
    """

    product_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    product_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product_type", "product_id"], name="jv_productlock_unique")
        ]


class ProductView(models.Model):
    """A signed-in customer looked at a product (for recommendations over time)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    product_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    product_id = models.CharField(max_length=64)
    viewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-viewed_at"], name="jv_productview_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} viewed product {self.product_id}"
