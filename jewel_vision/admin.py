"""Admin for analyses and for reviewing product tags (low confidence first).

Actions need Django's model permissions, like the API: accept and reject need
``jewel_vision.change_producttag``, analysing again ``jewel_vision.change_analysis``;
staff holding only the view permissions see the lists but no actions.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline

from jewel_vision.services import review
from jewel_vision.analysis.start import requeue
from jewel_vision.models import Analysis, ProductTag, Tag


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = ("id", "image_id", "product_id", "status", "attempts", "is_current", "pipeline_version", "updated_at")
    list_filter = ("status", "is_current", "pipeline_version")
    search_fields = ("image_id", "product_id", "content_hash", "error")
    readonly_fields = [f.name for f in Analysis._meta.fields]
    actions = ["requeue_selected"]

    @admin.action(description="Analyse again (re-enqueue)", permissions=["change"])
    def requeue_selected(self, request, queryset):
        ids = list(queryset.exclude(status=Analysis.Status.RUNNING).values_list("pk", flat=True))
        Analysis.objects.filter(pk__in=ids).update(status=Analysis.Status.PENDING, attempts=0, error="")
        sent, failed = requeue(ids)
        level = messages.WARNING if failed else messages.SUCCESS
        self.message_user(request, f"{sent} analyses enqueued, {failed} could not reach the broker (they stay pending).", level)

    def has_add_permission(self, request):
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("facet", "value")
    list_filter = ("facet",)
    search_fields = ("value",)


class ReviewActionsMixin:
    actions = ["accept_tags", "reject_tags"]

    @admin.action(description="Accept selected tags", permissions=["change"])
    def accept_tags(self, request, queryset):
        for product_tag in queryset.select_related("tag"):
            review.accept(product_tag, request.user)
        self.message_user(request, "Tags accepted.")

    @admin.action(description="Reject selected tags", permissions=["change"])
    def reject_tags(self, request, queryset):
        for product_tag in queryset.select_related("tag"):
            review.reject(product_tag, request.user)
        self.message_user(request, "Tags rejected.")


class ShownFilter(admin.SimpleListFilter):
    """Shown to shoppers, or a model suggestion below its display threshold (kept for review)."""

    title = "shown to shoppers"
    parameter_name = "shown"

    def lookups(self, request, model_admin):
        return [("yes", "Shown"), ("below", "Suggestion below threshold")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ProductTag.visible_q())
        if self.value() == "below":
            return queryset.filter(review_state=ProductTag.Review.SUGGESTED).exclude(ProductTag.visible_q())
        return queryset


@admin.register(ProductTag)
class ProductTagAdmin(ReviewActionsMixin, admin.ModelAdmin):
    list_display = (
        "tag", "product", "confidence", "threshold", "display_threshold", "shown", "source", "review_state",
        "source_detail", "updated_at",
    )
    list_filter = ("review_state", ShownFilter, "source", "tag__facet")
    search_fields = ("tag__value", "product_id")
    ordering = ("review_state", "confidence")
    list_select_related = ("tag",)
    raw_id_fields = ("tag",)
    readonly_fields = ("analyses", "threshold", "reviewed_by", "reviewed_at", "source_detail")

    @admin.display(description="applied threshold")
    def display_threshold(self, obj) -> str:
        """The threshold that decides (shop's facet override, else the model's, else the default)."""
        return f"{obj.display_threshold:.2f}"

    @admin.display(boolean=True, description="shown")
    def shown(self, obj) -> bool:
        return obj.is_visible


class PersonTagForm(forms.ModelForm):
    """A tag added by staff in the inline is a person's tag, accepted."""

    def save(self, commit: bool = True) -> ProductTag:
        product_tag = super().save(commit=False)
        if product_tag._state.adding:
            product_tag.source = ProductTag.Source.PERSON
            product_tag.confidence = 1.0
            product_tag.review_state = ProductTag.Review.ACCEPTED
        if commit:
            product_tag.save()
        return product_tag


class ProductTagInline(GenericTabularInline):
    """Add to the shop's product admin: ``inlines = [ProductTagInline]``."""

    model = ProductTag
    form = PersonTagForm
    ct_field = "product_type"
    ct_fk_field = "product_id"
    fields = ("tag", "confidence", "threshold", "source", "review_state", "source_detail")
    readonly_fields = ("confidence", "threshold", "source", "source_detail")
    raw_id_fields = ("tag",)
    extra = 0


# The back office (issue 11): review queue, inventory, backfills; the product admin mixin.
from jewel_vision.admin_ui import JewelProductAdminMixin  # noqa: E402,F401 - registers its pages
