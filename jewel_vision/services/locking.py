"""A per-product lock, held by everything that changes a product's tags.

Both sides of the race take it: aggregation of a finished analysis (workers) and
a person's review (admin, API). On PostgreSQL it is a row lock on
:class:`~jewel_vision.models.ProductLock` (``SELECT ... FOR UPDATE``), held to the
end of the caller's transaction. SQLite has no row locks, but its first write
takes the database's write lock for the rest of the transaction, and the lock
row's insert is that first write, so the effect is the same.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from jewel_vision.models import ProductLock


def lock_product(product_type: ContentType | int, product_id: str) -> None:
    """Block until no other transaction holds ``product_id``'s lock, then hold it.

    Call inside ``transaction.atomic()``; the lock is released when it ends.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_product() must be called inside transaction.atomic()")
    type_id = product_type.pk if isinstance(product_type, ContentType) else int(product_type)
    # INSERT ... ON CONFLICT DO NOTHING: creating the row cannot race into an IntegrityError.
    ProductLock.objects.bulk_create(
        [ProductLock(product_type_id=type_id, product_id=str(product_id))], ignore_conflicts=True
    )
    list(ProductLock.objects.select_for_update().filter(product_type_id=type_id, product_id=str(product_id)))
