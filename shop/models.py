"""The demo shop's catalogue: what a typical Django shop already has."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.urls import reverse


class Product(models.Model):
    name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=64, unique=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0.00"))
    stock = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True, default="")
    # Drafts (False) are not shown to shoppers: see ``shopper_products`` and the
    # JEWEL_VISION["SHOPPER_QUERYSET"] setting that points at it.
    published = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def get_absolute_url(self) -> str:
        return reverse("shop:product", args=[self.pk])

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


def shopper_products(queryset: models.QuerySet) -> models.QuerySet:
    """What shoppers may see of ``queryset``: published products (``JEWEL_VISION["SHOPPER_QUERYSET"]``)."""
    return queryset.filter(published=True)


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="products/%Y/%m/")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["product", "position", "pk"]

    def __str__(self) -> str:
        return f"Photo {self.position} of {self.product}"
