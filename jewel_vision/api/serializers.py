"""Serializers of the API. Products are the shop's own model, so they are described generically."""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from jewel_vision.index.products import in_stock_of, price_of, title_of, url_of
from jewel_vision.models import Analysis, ProductTag, Tag
from jewel_vision.registry import product_content_type

FACET_PARAMS = ("type", "metal", "metal_tone", "stone", "colour", "style")


class FullMatch(RegexValidator):
    """A RegexValidator that matches the whole value, as OpenAPI's ``pattern`` does (``^...$``).

    Python's ``$`` also matches before a final newline, ECMA's does not: ``fullmatch``
    makes the server accept exactly what the schema's pattern accepts. Use it on
    fields with ``trim_whitespace=False`` so nothing is stripped before the match.
    """

    def __call__(self, value):
        if not self.regex.fullmatch(str(value)):
            raise serializers.ValidationError(self.message, code=self.code)


#: A number from 0 to 1 as a client writes it: 0, 1, 0.25, .5, 1.0 (ASCII digits only).
_UNIT = r"(?:0(?:\.[0-9]{1,8})?|1(?:\.0{1,8})?|\.[0-9]{1,8})"
#: ``box``: empty (the whole photo) or four numbers ``x0,y0,x1,y1`` from 0 to 1.
BOX_PATTERN = rf"^(?:{_UNIT},{_UNIT},{_UNIT},{_UNIT})?$"
#: Free text: anything but NUL (no database stores it).
TEXT_PATTERN = r"^[^\x00]*$"
#: ``tag``: ``facet:value``; a facet is a letter then letters, digits or ``_`` (32 at most); a value is
#: 1 to 64 characters, no control characters, no comma, no space at either end (any character Python's
#: ``str.strip`` removes, listed one by one so that every regex dialect reads them alike).
_SPACES = r"\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TAG_PATTERN = (
    rf"^[A-Za-z][A-Za-z0-9_]{{0,31}}:[^\x00-\x20\x7f,{_SPACES}]"
    rf"(?:[^\x00-\x1f\x7f,]{{0,62}}[^\x00-\x20\x7f,{_SPACES}])?$"
)


class TagSerializer(serializers.Serializer):
    facet = serializers.CharField()
    value = serializers.CharField()
    confidence = serializers.FloatField()


class ProductSerializer(serializers.Serializer):
    """A product with its visible tags. Expects ``tags`` and ``images`` maps in the context."""

    id = serializers.CharField(source="pk")
    title = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()
    price = serializers.SerializerMethodField()
    in_stock = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    def get_title(self, obj) -> str:
        return title_of(obj)

    def get_url(self, obj) -> str:
        return url_of(obj)

    def get_image(self, obj) -> str:
        return self.context.get("images", {}).get(str(obj.pk), "")

    def get_price(self, obj) -> float | None:
        return price_of(obj)

    def get_in_stock(self, obj) -> bool:
        return in_stock_of(obj)

    def get_tags(self, obj) -> list[dict]:
        tags = self.context.get("tags", {}).get(str(obj.pk))
        return tags.as_list() if tags is not None else []


# drf-spectacular: describe the method fields precisely.
try:  # pragma: no branch
    from drf_spectacular.utils import extend_schema_field

    ProductSerializer.get_tags = extend_schema_field(TagSerializer(many=True))(ProductSerializer.get_tags)
except ImportError:  # pragma: no cover
    pass


class CardSerializer(serializers.Serializer):
    """A suggested product (similar, complete the look, recommendation, photo match)."""

    id = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    image = serializers.CharField(allow_blank=True)
    price = serializers.FloatField(allow_null=True)
    in_stock = serializers.BooleanField()
    score = serializers.FloatField(help_text="Ranking score (similarity re-ranked with tags).")
    similarity = serializers.FloatField(help_text="Cosine similarity of the pictures, -1..1.")
    reason = serializers.ChoiceField(
        choices=["other_metal", "other_colour", "similar_design", "other_type", "goes_with", "viewed", "new", "photo_match"]
    )
    tags = TagSerializer(many=True)


class CardListSerializer(serializers.Serializer):
    results = CardSerializer(many=True)


class SuggestionQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=8, required=False)
    in_stock = serializers.BooleanField(default=True, required=False, help_text="Only products in stock (default true).")


class TextField(serializers.CharField):
    """Free text that may be empty (no filter) and holds no NUL (no database stores it)."""

    pattern = TEXT_PATTERN

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.validators.append(FullMatch(self.pattern, "Null characters are not allowed."))


def _facet_field(facet: str, max_length: int = 500) -> serializers.CharField:
    return TextField(
        max_length=max_length,
        help_text=f"`{facet}` values, comma-separated or the parameter repeated (any of them); empty: no filter.",
    )


class ProductFilterSerializer(serializers.Serializer):
    """Query parameters of the product list. Facet values: comma-separated or repeated."""

    q = TextField(max_length=200, help_text='Text such as "gold pearl earrings".')
    type = _facet_field("type")
    metal = _facet_field("metal")
    metal_tone = _facet_field("metal_tone")
    stone = _facet_field("stone")
    colour = _facet_field("colour")
    style = _facet_field("style")
    in_stock = serializers.BooleanField(required=False, help_text="true: only in stock; false: only out of stock.")
    price_min = serializers.FloatField(required=False, min_value=0, max_value=1e12)
    price_max = serializers.FloatField(
        required=False, min_value=0, max_value=1e12, help_text="A `price_max` below `price_min` matches nothing."
    )
    page = serializers.IntegerField(required=False, min_value=1, help_text="A page past the last one is a 404.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, help_text="20 unless given.")


class ParsedQuerySerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)
    facets = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    words = serializers.ListField(child=serializers.CharField())


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class FacetCountsSerializer(serializers.Serializer):
    facets = serializers.DictField(child=FacetValueSerializer(many=True))


class PhotoSearchRequestSerializer(serializers.Serializer):
    image = serializers.FileField(
        help_text="A photo (JPEG, PNG, WebP, GIF, BMP or TIFF) within the upload limits (`UPLOAD_MAX_BYTES`, "
        "`UPLOAD_MAX_PIXELS`: 10 MiB and 40 Mpx unless the shop changed them), at least 8 pixels a side and not "
        "thinner than 1:20. OpenAPI cannot say \"a photo\": a file that is not one is a 400 `invalid_image`, a "
        "file or image too large a 413 `file_too_large`."
    )
    box = serializers.CharField(
        required=False, allow_blank=True, max_length=100, trim_whitespace=False,
        validators=[FullMatch(BOX_PATTERN, "box must be four numbers x0,y0,x1,y1 from 0 to 1")],
        help_text="Search only this piece: `x0,y0,x1,y1` normalised to 0..1 (e.g. a detection's box). The corners "
        "may come in any order; a box narrower than 0.02 is widened to 0.02 around its centre. Empty: the whole photo.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=50, default=12, required=False)
    in_stock = serializers.BooleanField(default=False, required=False)
    type = _facet_field("type")
    metal = _facet_field("metal")
    price_min = serializers.FloatField(required=False, min_value=0, max_value=1e12)
    price_max = serializers.FloatField(
        required=False, min_value=0, max_value=1e12, help_text="A `price_max` below `price_min` matches nothing."
    )


class DetectionSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    label = serializers.CharField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)
    score = serializers.FloatField()


class PredictionSerializer(serializers.Serializer):
    facet = serializers.CharField()
    value = serializers.CharField()
    confidence = serializers.FloatField()
    model = serializers.CharField()
    model_version = serializers.CharField()
    threshold = serializers.FloatField(
        allow_null=True, required=False, help_text="The model's per-label confidence threshold, if it has one."
    )


class PhotoSearchResponseSerializer(serializers.Serializer):
    recognised = serializers.BooleanField(
        help_text="A piece of jewelry was recognised: at least one tag reached its display threshold. When false "
        "(a blank or meaningless photo) `tags`, `detections` and `results` are empty: say \"nothing recognised\"."
    )
    results = CardSerializer(many=True)
    detections = DetectionSerializer(many=True, help_text="Pieces found in the photo; search again with one's box.")
    box = serializers.ListField(child=serializers.FloatField(), allow_null=True, min_length=4, max_length=4)
    tags = PredictionSerializer(many=True, help_text="What the photo shows: the tags that reached their display "
                                "threshold, the same rule as a product's shown tags.")
    timings_ms = serializers.DictField(child=serializers.FloatField())
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class AnalysisPredictionSerializer(serializers.Serializer):
    """One raw prediction of the pipeline for one photo (staff only)."""

    facet = serializers.CharField()
    value = serializers.CharField()
    confidence = serializers.FloatField()
    threshold = serializers.FloatField(allow_null=True, help_text="The model's per-label threshold, if it has one.")
    model = serializers.CharField()
    model_version = serializers.CharField()
    shown = serializers.BooleanField(help_text="The product's tag is shown to shoppers (not rejected, confident enough).")


#: What a shopper reads when an analysis failed: no internals (storage paths, exception texts).
PUBLIC_FAILURE = "This photo could not be analysed."


class AnalysisStatusSerializer(serializers.ModelSerializer):
    """An image's analysis. ``context["staff"]``: also every raw prediction and the full error text.

    ``tags`` (once done) are the photo's predictions whose product tag shoppers see
    (``ProductTag.visible_q``: not rejected, and accepted or at its display
    threshold), for everyone; ``predictions`` (staff, else null) are all of them.
    """

    tags = serializers.SerializerMethodField()
    predictions = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    detections = serializers.SerializerMethodField()
    has_embedding = serializers.SerializerMethodField()

    class Meta:
        model = Analysis
        fields = [
            "id", "image_id", "product_id", "status", "error", "attempts", "pipeline_version",
            "created_at", "started_at", "finished_at", "timings_ms", "width", "height",
            "tags", "predictions", "detections", "has_embedding",
        ]

    def _staff(self) -> bool:
        return bool(self.context.get("staff"))

    def _rows(self, obj) -> list:
        return list(obj.predictions.select_related("tag").order_by("tag__facet", "-confidence"))

    def _shown_tag_ids(self, obj) -> set[int]:
        if not obj.product_id:
            return set()
        return set(
            ProductTag.objects.filter(ProductTag.visible_q(), product_type=product_content_type(), product_id=obj.product_id)
            .values_list("tag_id", flat=True)
        )

    def get_tags(self, obj) -> list[dict]:
        if obj.status != Analysis.Status.DONE:
            return []
        shown = self._shown_tag_ids(obj)
        return [
            {"facet": p.tag.facet, "value": p.tag.value, "confidence": round(p.confidence, 4)}
            for p in self._rows(obj) if p.tag_id in shown
        ]

    def get_predictions(self, obj) -> list[dict] | None:
        if not self._staff():
            return None
        shown = self._shown_tag_ids(obj)
        return [
            {"facet": p.tag.facet, "value": p.tag.value, "confidence": round(p.confidence, 4), "threshold": p.threshold,
             "model": p.model, "model_version": p.model_version, "shown": p.tag_id in shown}
            for p in self._rows(obj)
        ]

    def get_error(self, obj) -> str:
        if self._staff():
            return obj.error
        return PUBLIC_FAILURE if obj.status == Analysis.Status.FAILED else ""

    def get_detections(self, obj) -> list[dict]:
        return [
            {"index": i, "label": d.label, "box": [d.x0, d.y0, d.x1, d.y1], "score": d.score}
            for i, d in enumerate(obj.detections.order_by("-score"))
        ]

    def get_has_embedding(self, obj) -> bool:
        return hasattr(obj, "embedding")


try:  # pragma: no branch
    from drf_spectacular.utils import extend_schema_field

    AnalysisStatusSerializer.get_tags = extend_schema_field(TagSerializer(many=True))(AnalysisStatusSerializer.get_tags)
    AnalysisStatusSerializer.get_detections = extend_schema_field(DetectionSerializer(many=True))(
        AnalysisStatusSerializer.get_detections
    )
    AnalysisStatusSerializer.get_predictions = extend_schema_field(
        AnalysisPredictionSerializer(many=True, allow_null=True)
    )(AnalysisStatusSerializer.get_predictions)
except ImportError:  # pragma: no cover
    pass


class ReviewTagSerializer(serializers.ModelSerializer):
    """A product tag as staff review it (suggestions included)."""

    facet = serializers.CharField(source="tag.facet", read_only=True)
    value = serializers.CharField(source="tag.value", read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.get_username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ProductTag
        fields = [
            "id", "product_id", "facet", "value", "confidence", "threshold", "source", "source_detail",
            "review_state", "reviewed_by", "reviewed_at", "visible",
        ]

    visible = serializers.SerializerMethodField()

    def get_visible(self, obj) -> bool:
        return obj.is_visible


class AddTagSerializer(serializers.Serializer):
    tag = serializers.CharField(
        max_length=100, trim_whitespace=False,
        validators=[FullMatch(TAG_PATTERN, "tag must look like 'facet:value' (facet: a letter, then letters, digits "
                              "or _, 32 at most; value: 1 to 64 characters, no comma, no control character, no "
                              "space at either end)")],
        help_text='"facet:value", e.g. "style:vintage"; the facet is lowercased.',
    )

    def validate_tag(self, value: str) -> str:
        facet, val = Tag.parse(value)  # the pattern guarantees it parses
        return f"{facet}:{val}"


class ProductPageSerializer(serializers.Serializer):
    """One page of products."""

    count = serializers.IntegerField(help_text="Products matching, over all pages.")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first one.")
    results = ProductSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
