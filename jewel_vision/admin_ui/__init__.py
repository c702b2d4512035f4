"""The back office in the Django admin (issue 11).

Importing this package registers the review queue (``/admin/jewel_vision/review/``),
the inventory (``/admin/jewel_vision/inventory/``) and backfills with the default admin
site; :class:`JewelProductAdminMixin` is for the shop's own product ``ModelAdmin``.
"""

from jewel_vision.admin_ui import backfill, inventory, review, teaching  # noqa: F401 - they register their admins
from jewel_vision.admin_ui.products import (
    AnalysisStateFilter,
    JewelProductAdminMixin,
    facet_filter,
)

__all__ = ["AnalysisStateFilter", "JewelProductAdminMixin", "facet_filter"]
