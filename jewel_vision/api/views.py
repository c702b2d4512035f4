"""API views. Reads are public and show what shoppers may see (``SHOPPER_QUERYSET``, visible tags);
tag review needs Django's model permissions; every error has one JSON shape."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response, patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, OpenApiResponse, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from jewel_vision.api import errors
from jewel_vision.api.openapi import JewelAutoSchema, extend_schema
from jewel_vision.api.permissions import VIEW_ANALYSIS, CanDecideTags, CanReviewTags, has_perm
from jewel_vision.api.serializers import (
    FACET_PARAMS,
    AddTagSerializer,
    AnalysisStatusSerializer,
    CardListSerializer,
    ErrorSerializer,
    FacetCountsSerializer,
    ParsedQuerySerializer,
    PhotoSearchRequestSerializer,
    PhotoSearchResponseSerializer,
    ProductFilterSerializer,
    ProductPageSerializer,
    ProductSerializer,
    ReviewTagSerializer,
    SuggestionQuerySerializer,
)
from jewel_vision.api.throttles import AnonThrottle, PhotoSearchThrottle, UserThrottle
from jewel_vision.conf import jv_settings
from jewel_vision.index import Filters
from jewel_vision.index.products import first_image_urls, shopper_products, visible_tags
from jewel_vision.models import Analysis, ProductTag, display_threshold
from jewel_vision.registry import get_product_model, image_content_type, product_content_type
from jewel_vision.services import photos, recommendations, review, search, similarity

# Error responses: JewelAutoSchema documents each status an operation can answer (jewel_vision.api.openapi).
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input"),
    404: OpenApiResponse(ErrorSerializer, description="Not found"),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests"),
}


#: The photo formats search by photo reads (the multipart part's media types in the schema).
PHOTO_TYPES = "image/jpeg, image/png, image/webp, image/gif, image/bmp, image/tiff"


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class ShopTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; without ``rest_framework.authtoken`` installed no token is
    valid (a 401, never a 500; ``manage.py check`` reports the missing app as jewel_vision.E001)."""

    def authenticate_credentials(self, key):
        from django.apps import apps

        if not apps.is_installed("rest_framework.authtoken"):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


class JewelAPIView(APIView):
    """Base of every endpoint: its own auth, throttles, error handler and schema class,
    whatever the project's REST_FRAMEWORK defaults (it needs none)."""

    schema = JewelAutoSchema()  # drf-spectacular's (plus every error), even where DEFAULT_SCHEMA_CLASS is DRF's
    authentication_classes = [ShopTokenAuthentication, SessionAuthentication]  # Token first: 401 + challenge
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, UserThrottle]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_exception_handler(self):
        return errors.exception_handler

    def params(self, serializer_class: type, data: Any = None) -> dict:
        """Validated parameters (the query string unless ``data``).

        A query string or form is read as a plain dict (the last value of each
        name), so an empty value is checked like any other (``price_min=`` is a
        400, as the schema says) instead of counting as absent.
        """
        data = self.request.query_params if data is None else data
        if hasattr(data, "getlist"):
            data = data.dict()
        s = serializer_class(data=data)
        s.is_valid(raise_exception=True)
        return s.validated_data

    def finalize_response(self, request, response, *args, **kwargs):
        """Conditional GET: a successful read carries an ETag (a hash of its body) and ``private, no-cache``;
        ``If-None-Match`` with the current ETag gets a 304 without a body."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in ("GET", "HEAD") and response.status_code == 200 and isinstance(response, Response):
            response.render()
            response["ETag"] = '"%s"' % hashlib.sha256(response.content).hexdigest()[:32]
            response["Cache-Control"] = "private, no-cache"
            patch_vary_headers(response, ("Authorization", "Cookie"))
            conditional = get_conditional_response(request._request, etag=response["ETag"], response=response)
            if conditional is not response:
                for header in ("Cache-Control", "Vary"):
                    conditional[header] = response[header]
                for cookie in response.cookies.values():  # e.g. the viewed-products cookie
                    conditional.cookies[cookie.key] = cookie
                return conditional
        return response

    def search_page(self, request) -> tuple[Any, Any, "Pagination", list]:
        """The product list's filters (facets, text, stock, price) applied: what was understood,
        the queryset, its paginator and the page asked for."""
        p = self.params(ProductFilterSerializer)
        facets = {f: _csv(request, f) for f in FACET_PARAMS if _csv(request, f)}
        parsed, qs = search.search_products(
            p.get("q", ""), facets, in_stock=p.get("in_stock"), price_min=p.get("price_min"), price_max=p.get("price_max")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(qs.order_by("pk"), request, view=self)
        return parsed, qs, paginator, page

    def product_cards(self, request, pk: str, suggest: Callable[..., list], *, default_limit: int) -> Response:
        """Cards ``suggest(product, limit, in_stock_only=...)`` picks for one product (similar, complete the look)."""
        p = self.params(SuggestionQuerySerializer)
        product = self.get_product(pk)
        cards = suggest(product, p.get("limit", default_limit), in_stock_only=p.get("in_stock", True))
        return Response({"results": [c.as_dict() for c in cards]})

    def get_product(self, pk: str, *, shoppers: bool = True) -> Any:
        """The product ``pk``; with ``shoppers`` only one shoppers may see (a draft is a 404)."""
        model = get_product_model()
        try:
            key = model._meta.pk.to_python(pk)
        except Exception:  # noqa: BLE001 - a malformed id does not exist
            raise errors.exceptions.NotFound("No such product.") from None
        qs = model._default_manager.all()
        return get_object_or_404(shopper_products(qs) if shoppers else qs, pk=key)


def _csv(request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return list(dict.fromkeys(values))


def product_context(products: list) -> dict:
    ids = [str(p.pk) for p in products]
    return {"tags": visible_tags(ids), "images": first_image_urls(ids)}


FACET_PARAMETERS = [
    OpenApiParameter(f, OpenApiTypes.STR, description=f"{f} values, comma-separated (any of them)") for f in FACET_PARAMS
]


class ProductListView(JewelAPIView):
    @extend_schema(
        operation_id="products_list",
        summary="Products with their tags",
        description='Filter by facets (`type=ring,earring&metal=gold`), a text query (`q=gold pearl earrings`, mapped '
        "to facets), stock and price. Paginated.",
        parameters=[ProductFilterSerializer],
        responses={200: ProductPageSerializer},
    )
    def get(self, request):
        _, _, paginator, page = self.search_page(request)
        data = ProductSerializer(page, many=True, context=product_context(page)).data
        return paginator.get_paginated_response(data)


class ProductDetailView(JewelAPIView):
    @extend_schema(
        operation_id="product_retrieve",
        summary="One product with its tags",
        description="Also remembers the view for this session's (or signed-in customer's) recommendations.",
        responses={200: ProductSerializer, 404: ERRORS[404]},
    )
    def get(self, request, pk: str):
        product = self.get_product(pk)
        response = Response(ProductSerializer(product, context=product_context([product])).data)
        recommendations.record_view(request, product, response)  # no session row for anonymous reads
        return response


class SimilarView(JewelAPIView):
    @extend_schema(
        summary="Similar items",
        description="Visual similarity re-ranked with tags: the same design in another metal or colour, similar "
        "designs of the same type; never the product itself; near-copies collapsed.",
        parameters=[SuggestionQuerySerializer],
        responses={200: CardListSerializer, 400: ERRORS[400], 404: ERRORS[404]},
    )
    def get(self, request, pk: str):
        return self.product_cards(request, pk, similarity.similar_products, default_limit=8)


class CompleteTheLookView(JewelAPIView):
    @extend_schema(
        summary="Complete the look",
        description="Pieces of other types that go with this one, same metal tone, preferably the same style.",
        parameters=[SuggestionQuerySerializer],
        responses={200: CardListSerializer, 400: ERRORS[400], 404: ERRORS[404]},
    )
    def get(self, request, pk: str):
        return self.product_cards(request, pk, similarity.complete_the_look, default_limit=6)


class RecommendationsView(JewelAPIView):
    @extend_schema(
        summary="Recommendations from browsing history",
        description="From the products viewed in this session, or by the signed-in customer over time "
        "(views are recorded by the product detail endpoint). New products when there is no history.",
        parameters=[SuggestionQuerySerializer],
        responses={200: CardListSerializer, 400: ERRORS[400]},
    )
    def get(self, request):
        p = self.params(SuggestionQuerySerializer)
        cards = recommendations.recommend(request, p.get("limit", 8), in_stock_only=p.get("in_stock", True))
        return Response({"results": [c.as_dict() for c in cards]})


class PhotoSearchView(JewelAPIView):
    throttle_classes = [AnonThrottle, UserThrottle, PhotoSearchThrottle]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Search by photo",
        description="Upload a photo (multipart field `image`). Without `box` the whole photo is searched and the "
        "pieces found in it are listed in `detections`; send the photo again with one's `box` to search that piece.",
        request={"multipart/form-data": OpenApiRequest(PhotoSearchRequestSerializer, encoding={"image": {"contentType": PHOTO_TYPES}})},
        responses={
            200: PhotoSearchResponseSerializer,
            400: ERRORS[400],
            413: OpenApiResponse(ErrorSerializer, description="File or image too large"),
            429: ERRORS[429],
            503: OpenApiResponse(ErrorSerializer, description="No worker can be reached to analyse the photo; try again"),
            504: OpenApiResponse(ErrorSerializer, description="No worker analysed the photo in time; try again"),
        },
    )
    def post(self, request):
        photos.check_content_length(request)
        p = self.params(PhotoSearchRequestSerializer, request.data)
        try:
            box = photos.parse_box(p.get("box"))
        except ValueError as exc:
            raise errors.exceptions.ValidationError({"box": [str(exc)]}) from None
        image = photos.decode_upload(photos.read_upload(p["image"]))
        filters = Filters(
            in_stock=True if p.get("in_stock") else None,
            types=tuple(v for v in (p.get("type") or "").split(",") if v),
            metals=tuple(v for v in (p.get("metal") or "").split(",") if v),
            price_min=p.get("price_min"),
            price_max=p.get("price_max"),
        )
        t0 = time.perf_counter()
        region = photos.crop(image, box) if box else image
        if photos.too_small(region):
            # Nothing to recognise in a few pixels: say so, show nothing.
            return Response({"recognised": False, "results": [], "detections": [], "box": list(box) if box else None,
                             "tags": [], "timings_ms": {"analyse": round((time.perf_counter() - t0) * 1000, 3) or 0.001},
                             "width": region.width, "height": region.height})
        found = similarity.search_by_photo(image, box=box, limit=p.get("limit", 12), filters=filters)
        shown = [t for t in found.tags if t["confidence"] >= display_threshold(t["facet"], t.get("threshold"))]
        recognised = bool(shown)
        return Response(
            {
                "recognised": recognised,
                "results": [c.as_dict() for c in found.cards] if recognised else [],
                "detections": found.detections if recognised else [],
                "box": list(found.box) if found.box else None,
                "tags": shown,
                "timings_ms": found.timings_ms,
                "width": found.width,
                "height": found.height,
            }
        )


class TextSearchView(JewelAPIView):
    @extend_schema(
        summary="Tag search",
        description='A text query such as "gold pearl earrings" mapped to facets, plus explicit facet filters; '
        "returns what was understood, the matching products (paginated) and facet counts for refining.",
        parameters=[ProductFilterSerializer],
        responses={
            200: inline_serializer(
                "TextSearchResponse",
                {
                    "query": ParsedQuerySerializer(),
                    "count": drf_serializers.IntegerField(),
                    "next": drf_serializers.CharField(allow_null=True),
                    "previous": drf_serializers.CharField(allow_null=True),
                    "results": ProductSerializer(many=True),
                    "facets": drf_serializers.DictField(
                        child=inline_serializer("FacetCount", {"value": drf_serializers.CharField(), "count": drf_serializers.IntegerField()}, many=True)
                    ),
                },
            ),
            400: ERRORS[400],
        },
    )
    def get(self, request):
        parsed, qs, paginator, page = self.search_page(request)
        counts = search.facet_counts(qs, cache_seconds=None)  # cached briefly for shoppers
        return Response(
            {
                "query": parsed.as_dict(),
                "count": paginator.page.paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": ProductSerializer(page, many=True, context=product_context(page)).data,
                "facets": {f: [{"value": v, "count": n} for v, n in values] for f, values in counts.items()},
            }
        )


class FacetsView(JewelAPIView):
    @extend_schema(summary="Facets to browse by", description="Visible values of each facet with product counts.",
                   responses={200: FacetCountsSerializer})
    def get(self, request):
        counts = search.facet_counts(cache_seconds=None)  # cached briefly for shoppers
        return Response({"facets": {f: [{"value": v, "count": n} for v, n in values] for f, values in counts.items()}})


class ImageAnalysisView(JewelAPIView):
    @extend_schema(
        summary="Analysis status of a product image",
        description="The current analysis of an image of the shop's image model: pending, running, done or failed, "
        "with its tags (those shown to shoppers) and detections once done. Holders of `jewel_vision.view_analysis` "
        "also get every raw prediction (`predictions`) and the full error text; for others `predictions` is null "
        "and a failure is described without internals. Images of products shoppers may not see are a 404 for them.",
        responses={200: AnalysisStatusSerializer, 404: ERRORS[404]},
    )
    def get(self, request, image_id: str):
        if "\x00" in image_id:  # no database stores NUL: no such image
            raise errors.exceptions.NotFound("No analysis for this image.")
        analysis = (
            Analysis.objects.filter(image_type=image_content_type(), image_id=str(image_id)[:64], is_current=True)
            .order_by("-pk")
            .first()
        )
        if analysis is None:
            raise errors.exceptions.NotFound("No analysis for this image.")
        staff = has_perm(request.user, VIEW_ANALYSIS)
        if not staff and not self._shown(analysis.product_id):
            raise errors.exceptions.NotFound("No analysis for this image.")
        return Response(AnalysisStatusSerializer(analysis, context={"staff": staff}).data)

    @staticmethod
    def _shown(product_id: str) -> bool:
        """The analysed photo belongs to a product shoppers may see."""
        model = get_product_model()
        try:
            key = model._meta.pk.to_python(product_id)
        except Exception:  # noqa: BLE001 - no such product
            return False
        return shopper_products().filter(pk=key).exists()


class ProductTagsView(JewelAPIView):
    permission_classes = [CanReviewTags]
    parser_classes = [JSONParser]  # one media type: generated clients handle a body of one type best

    @extend_schema(
        summary="All tags of a product (staff)",
        description="Suggestions included, lowest confidence first, for review. Needs `jewel_vision.view_producttag`; "
        "drafts included.",
        responses={200: ReviewTagSerializer(many=True), 403: OpenApiResponse(ErrorSerializer), 404: ERRORS[404]},
    )
    def get(self, request, pk: str):
        product = self.get_product(pk, shoppers=False)
        tags = ProductTag.objects.filter(product_type=product_content_type(), product_id=str(product.pk)).select_related(
            "tag", "reviewed_by"
        ).order_by("confidence", "pk")
        return Response(ReviewTagSerializer(tags, many=True).data)

    @extend_schema(
        summary="Add a tag to a product (staff)",
        description='A person\'s tag, e.g. `{"tag": "style:vintage"}`; it counts as accepted and models never change it. '
        "Needs `jewel_vision.add_producttag`.",
        request={"application/json": AddTagSerializer},
        responses={201: ReviewTagSerializer, 400: ERRORS[400], 403: OpenApiResponse(ErrorSerializer), 404: ERRORS[404]},
    )
    def post(self, request, pk: str):
        product = self.get_product(pk, shoppers=False)
        data = self.params(AddTagSerializer, request.data)
        tag = review.add(product, data["tag"], request.user)
        return Response(ReviewTagSerializer(tag).data, status=201)


class ReviewDecisionView(JewelAPIView):
    permission_classes = [CanDecideTags]
    decision = "accept"

    @extend_schema(
        request=None,
        responses={200: ReviewTagSerializer, 403: OpenApiResponse(ErrorSerializer), 404: ERRORS[404]},
    )
    def post(self, request, tag_id: int):
        product_tag = get_object_or_404(ProductTag.objects.select_related("tag"), pk=tag_id)
        decide = review.accept if self.decision == "accept" else review.reject
        return Response(ReviewTagSerializer(decide(product_tag, request.user)).data)


class AcceptTagView(ReviewDecisionView):
    decision = "accept"

    @extend_schema(summary="Accept a tag (staff)", description="In a one-value facet the competing suggestions go. "
                   "Needs `jewel_vision.change_producttag`.",
                   request=None, responses={200: ReviewTagSerializer, 403: OpenApiResponse(ErrorSerializer), 404: ERRORS[404]})
    def post(self, request, tag_id: int):
        return super().post(request, tag_id)


class RejectTagView(ReviewDecisionView):
    decision = "reject"

    @extend_schema(summary="Reject a tag (staff)", description="Hidden from shoppers; models never bring it back. "
                   "Needs `jewel_vision.change_producttag`.",
                   request=None, responses={200: ReviewTagSerializer, 403: OpenApiResponse(ErrorSerializer), 404: ERRORS[404]})
    def post(self, request, tag_id: int):
        return super().post(request, tag_id)
