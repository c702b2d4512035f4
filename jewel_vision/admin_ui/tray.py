"""Tray count (``/admin/jewel_vision/inventory/tray/``): photograph a tray, count the pieces by type,
compare with the stock on record.

The photo is analysed like a shopper's search photo (:func:`jewel_vision.services.similarity.analyse_photo`:
on a worker, or in this process with ``PHOTO_SEARCH="in_process"``); the detector's pieces are
counted by their type. The products compared are chosen from the product list (its action
*Count the selected products on a tray photo*, ``?ids=``) or by type (``?type=ring``); each counts its stock under its
type as shoppers see it. The photo is shown with the boxes drawn. Needs the inventory's
permissions (view of the product model, product tags, analyses).
"""

from __future__ import annotations

import base64
import io
from collections import Counter

from django.contrib import messages
from django.template.response import TemplateResponse

from jewel_vision.admin_ui.common import page_context, product_changelist_url
from jewel_vision.conf import jv_settings
from jewel_vision.index.products import stock_is_in, visible_tags
from jewel_vision.registry import get_product_model
from jewel_vision.services import catalogue, photos, similarity

#: Detections of the pieces themselves (the stones have boxes of their own).
PIECE_MODEL = "jewelry-detector"


def chosen_products(ids: str, type_: str) -> list:
    products = get_product_model()._default_manager.order_by("pk")
    if ids:
        products = products.filter(pk__in=[i for i in ids.split(",") if i.strip()])
    elif type_:
        products = catalogue.filter_facet(products, "type", type_)
    else:
        return []
    return list(products[:5000])


def stock_by_type(products: list) -> tuple[Counter, Counter]:
    """(units on record, products) by each product's type as shoppers see it ('' when untyped)."""
    tags = visible_tags([str(p.pk) for p in products])
    units, counted = Counter(), Counter()
    field = jv_settings.PRODUCT_STOCK_FIELD
    for product in products:
        kind = tags[str(product.pk)].top("type")
        stock = getattr(product, field) if field else None
        units[kind] += int(stock) if isinstance(stock, int) else int(stock_is_in(stock))
        counted[kind] += 1
    return units, counted


def preview_uri(image, max_side: int = 900) -> str:
    shown = image.convert("RGB")
    shown.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    shown.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def tray_view(model_admin, request):
    ids = request.POST.get("ids") or request.GET.get("ids", "")
    type_ = request.POST.get("type") or request.GET.get("type", "")
    products = chosen_products(ids, type_)
    context = page_context(model_admin, request, "Tray count", ids=ids, type=type_, products=products,
                           types=catalogue.facet_values("type"), products_url=product_changelist_url())
    if request.method == "POST" and "photo" in request.FILES:
        try:
            image = photos.decode_upload(photos.read_upload(request.FILES["photo"]))
            result = similarity.analyse_photo(image)
        except photos.PhotoRejected as exc:
            messages.error(request, f"This photo cannot be used: {exc}")
        except photos.PhotoSearchUnavailable as exc:
            messages.error(request, f"No worker analysed the photo in time: {exc}")
        else:
            pieces = [d for d in result.detections if d.model == PIECE_MODEL]
            found = Counter(d.label for d in pieces)
            units, counted = stock_by_type(products)
            kinds = sorted(set(found) | {k for k in units if k})
            context.update(
                counted=True,
                preview=preview_uri(image),
                boxes=[{"label": d.label, "score": d.score, "left": 100 * min(d.box[0], d.box[2]),
                        "top": 100 * min(d.box[1], d.box[3]), "width": 100 * abs(d.box[2] - d.box[0]),
                        "height": 100 * abs(d.box[3] - d.box[1])} for d in pieces],
                rows=[{"type": k, "found": found.get(k, 0), "stock": units.get(k, 0), "products": counted.get(k, 0),
                       "difference": found.get(k, 0) - units.get(k, 0)} for k in kinds],
                total_found=len(pieces), total_stock=sum(units.values()),
            )
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/jewel_vision/tray_count.html", context)
