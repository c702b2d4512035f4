import base64
import hashlib
import io
import math

from django.core.cache import cache
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from jewel_vision.api.throttles import PhotoSearchThrottle
from jewel_vision.conf import jv_settings
from jewel_vision.index.products import shopper_products
from jewel_vision.services import photos, recommendations, search
from jewel_vision.services.similarity import search_by_photo
from jewel_vision.shortcuts import visible_tags
from shop.models import Product

PHOTO_CACHE_SECONDS = 1800


PRODUCTS_PER_PAGE = 48


def product_list(request):
    """The catalogue, a page at a time (``?page=N``; a page out of range shows the last one)."""
    products = shopper_products(Product.objects.prefetch_related("images"))  # drafts left out; by name, pk
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "shop/product_list.html", {"products": page.object_list, "page": page})


def product_detail(request, pk: int):
    product = get_object_or_404(shopper_products(Product.objects.prefetch_related("images")), pk=pk)  # a draft: 404
    response = render(request, "shop/product_detail.html", {"product": product, "tags": visible_tags(product)})
    recommendations.record_view(request, product, response)  # a signed cookie, not a session row, for anonymous visitors
    return response


def text_search(request):
    """Browse by facets, or a text query such as "gold pearl earrings" mapped to them."""
    text = request.GET.get("q", "").strip()[:200]
    chosen = {f: [v for v in request.GET.getlist(f) if v] for f in search.FACETS}
    chosen = {f: v for f, v in chosen.items() if v}
    in_stock = request.GET.get("in_stock") == "1"
    parsed, qs = search.search_products(text, chosen, in_stock=in_stock or None)
    products = list(qs.order_by("name", "pk").prefetch_related("images")[:60])
    counts = search.facet_counts(qs, cache_seconds=None)  # cached briefly (FACET_COUNTS_CACHE_SECONDS)
    return render(
        request,
        "shop/search.html",
        {"q": text, "parsed": parsed, "chosen": chosen, "products": products, "counts": counts, "in_stock": in_stock},
    )


def _preview(image) -> tuple[bytes, str]:
    """The decoded photo as a JPEG (kept to search a picked piece again) and as a data URI to show."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    return data, "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def photo_search(request):
    """Upload a photo; if it shows several pieces, pick one to search for it alone."""
    context: dict = {"max_mb": jv_settings.UPLOAD_MAX_BYTES // 2**20}
    if request.method != "POST":
        return render(request, "shop/photo_search.html", context)
    throttle = PhotoSearchThrottle()  # the API's budget and cache, per signed-in user or client address
    if not throttle.allow_request(request, None):
        wait = throttle.wait()  # seconds until the next search is allowed
        context["error"] = "Too many photo searches; please try again in a minute."
        response = render(request, "shop/photo_search.html", context, status=429)
        response["Retry-After"] = str(max(1, math.ceil(wait)) if wait is not None else 60)
        return response
    status = 200
    try:
        token = request.POST.get("token", "")
        if token:
            data = cache.get(f"jv-photo-{token}")
            if data is None:
                raise photos.PhotoRejected("That photo has expired; please upload it again.")
            image = photos.decode_upload(data)
        else:
            upload = request.FILES.get("image")
            if upload is None:
                raise photos.PhotoRejected("Choose a photo to upload.")
            image = photos.decode_upload(photos.read_upload(upload))
        data, preview = _preview(image)
        token = hashlib.sha256(data).hexdigest()[:32]
        cache.set(f"jv-photo-{token}", data, PHOTO_CACHE_SECONDS)
        box = photos.parse_box(request.POST.get("box"))
        found = search_by_photo(image, box=box, limit=12)
        if box:
            # Show the pieces found in the whole photo again, so the shopper can switch.
            detections = cache.get(f"jv-dets-{token}")
            if detections is None:
                detections = search_by_photo(image, limit=1).detections
        else:
            detections = found.detections
        cache.set(f"jv-dets-{token}", detections, PHOTO_CACHE_SECONDS)
        context.update(
            token=token,
            preview=preview,
            found=found,
            detections=[
                {**d, "style": "left:{:.2f}%;top:{:.2f}%;width:{:.2f}%;height:{:.2f}%".format(
                    d["box"][0] * 100, d["box"][1] * 100, (d["box"][2] - d["box"][0]) * 100, (d["box"][3] - d["box"][1]) * 100),
                 "value": ",".join(f"{v:.4f}" for v in d["box"]),
                 "chosen": bool(box) and all(abs(a - b) < 1e-3 for a, b in zip(d["box"], box))}
                for d in detections
            ],
            box=box,
        )
    except (photos.PhotoRejected, photos.PhotoSearchUnavailable) as exc:
        status = exc.status_code
        context["error"] = str(exc)
    except ValueError as exc:  # a bad box
        status = 400
        context["error"] = str(exc)
    return render(request, "shop/photo_search.html", context, status=status)
