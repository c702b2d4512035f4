"""Teaching by example and model versions in the admin.

* Labelling (``/admin/jewel_vision/review/label/?facet=style``, from the review queue):
  products one per row; ``j``/``k`` move, the digit keys give the row the value with that
  number, a new facet or value is typed in. Needs ``add_producttag`` and
  ``change_producttag`` (a new value ``add_tag``).
* Taught heads (``/admin/jewel_vision/taughthead/``): *train* one for a facet (a worker
  trains it); its page shows the cross-validated accuracy and confusion per value, and
  *switch on* / *roll back* (``change_taughthead`` and ``change_analysis``: both re-analyse
  the catalogue through a backfill, whose progress page follows).
* Model versions (``/admin/jewel_vision/modelversion/``): every model of the configured
  pipeline with its version and model card, how many product tags each model version
  made, and the taught heads of each facet.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from jewel_vision.admin_ui.common import PageAdmin, page_context, product_change_url, require
from jewel_vision.analysis import heads
from jewel_vision.index.products import first_image_urls, title_of
from jewel_vision.models import ModelVersion, ProductTag, TaughtHead, Tag
from jewel_vision.registry import configured_pipeline, get_product_model, product_content_type
from jewel_vision.services.teaching import TeachingError

LABEL_PERMS = ("jewel_vision.add_producttag", "jewel_vision.change_producttag")
SWITCH_PERMS = ("jewel_vision.change_taughthead", "jewel_vision.change_analysis", "jewel_vision.add_backfillrun")
CARDS_DIR = Path(__file__).resolve().parent.parent / "vision" / "weights"
PAGE_SIZE = 50


def taught_facets() -> list[str]:
    """Facets a person can teach: those in the vocabulary that no built-in model predicts."""
    return [f for f in Tag.objects.order_by("facet").values_list("facet", flat=True).distinct() if f not in heads.BUILT_IN]


def label_view(model_admin, request):
    """GET: the labelling page; POST ``product``, ``value`` (and ``facet``): label one product, JSON.
    POST ``new_value``: add a value to the facet's vocabulary."""
    require(request, "jewel_vision.view_producttag")
    facet = (request.POST.get("facet") or request.GET.get("facet") or "").strip().lower()
    if request.method == "POST":
        if facet in heads.BUILT_IN or not facet:
            return JsonResponse({"error": "choose a facet to teach (not a built-in one)"}, status=400)
        if "new_value" in request.POST:
            require(request, "jewel_vision.add_tag")
            value = request.POST["new_value"].strip()
            if value:
                Tag.objects.get_or_create(facet=facet, value=value)
            return HttpResponseRedirect(f"{request.path}?facet={facet}")
        require(request, *LABEL_PERMS)
        stored = heads.label(request.POST.get("product", ""), facet, request.POST.get("value", ""), request.user)
        return JsonResponse({"product": stored.product_id, "tag": str(stored.tag), "by": request.user.get_username(),
                             "at": stored.reviewed_at.isoformat() if stored.reviewed_at else None})
    products = get_product_model()._default_manager.order_by("pk")
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [str(p.pk) for p in page.object_list]
    current = dict(
        ProductTag.objects.filter(product_type=product_content_type(), product_id__in=ids, tag__facet=facet,
                                  review_state=ProductTag.Review.ACCEPTED).values_list("product_id", "tag__value")
    ) if facet else {}
    thumbs = first_image_urls(ids)
    rows = [{"pk": p.pk, "title": title_of(p), "url": product_change_url(p.pk), "thumb": thumbs.get(str(p.pk), ""),
             "value": current.get(str(p.pk), "")} for p in page.object_list]
    values = list(Tag.objects.filter(facet=facet).order_by("value").values_list("value", flat=True)) if facet else []
    labelled = dict(
        ProductTag.objects.filter(product_type=product_content_type(), tag__facet=facet,
                                  review_state=ProductTag.Review.ACCEPTED)
        .order_by().values("tag__value").annotate(n=Count("pk")).values_list("tag__value", "n")
    ) if facet else {}
    context = page_context(
        model_admin, request, f"Label products: {facet}" if facet else "Label products",
        facet=facet, facets=taught_facets(), values=values, rows=rows, page=page, labelled=labelled,
        can_label=all(request.user.has_perm(p) for p in LABEL_PERMS),
        can_add_value=request.user.has_perm("jewel_vision.add_tag"),
        can_train=request.user.has_perm("jewel_vision.add_taughthead"),
    )
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/jewel_vision/label.html", context)


class TrainForm(forms.ModelForm):
    class Meta:
        model = TaughtHead
        fields = ("facet",)
        help_texts = {"facet": "A facet staff labelled (e.g. style), at least 3 analysed products per value; or "
                               "type, to adapt the built-in type head to the type tags staff accepted or corrected."}

    def clean_facet(self):
        facet = self.cleaned_data["facet"].strip().lower()
        if not heads.can_train(facet):
            raise forms.ValidationError(f"'{facet}' is predicted by a built-in model; teach new facets such as style, or adapt type")
        return facet


class TaughtHeadAdmin(admin.ModelAdmin):
    form = TrainForm
    list_display = ("__str__", "facet", "status", "accuracy", "created_by", "created_at", "activated_at")
    list_filter = ("facet", "status")

    @admin.display(description="cross-validated accuracy")
    def accuracy(self, obj) -> str:
        value = obj.report.get("cv_accuracy")
        return "—" if value is None else f"{value:.3f}"

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        head = heads.start_training(form.cleaned_data["facet"], request.user)
        obj.pk = head.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:jewel_vision_taughthead_change", args=[obj.pk]))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/switch/", wrap(self.switch_view), name="jewel_vision_taughthead_switch"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        require(request, "jewel_vision.view_taughthead")
        head = get_object_or_404(TaughtHead, pk=object_id)
        report = head.report or {}
        classes = report.get("classes", [])
        confusion = [{"value": c, "counts": row, "accuracy": report.get("cv_accuracy_per_value", {}).get(c)}
                     for c, row in zip(classes, report.get("cv_confusion", []))]
        columns = report.get("cv_confusion_columns", classes)  # an adapted type head: every type it can say
        context = page_context(
            self, request, str(head), head=head, report=report, classes=columns, confusion=confusion,
            previous=heads.previous(head.facet) if head.status == TaughtHead.Status.ACTIVE else None,
            can_switch=all(request.user.has_perm(p) for p in SWITCH_PERMS),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/jewel_vision/taught_head.html", context)

    def switch_view(self, request, pk: int):
        """POST ``do=on`` (switch this head on) or ``do=back`` (roll its facet back); then the backfill's progress."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        require(request, *SWITCH_PERMS)
        head = get_object_or_404(TaughtHead, pk=pk)
        try:
            run = heads.roll_back(head.facet, request.user) if request.POST.get("do") == "back" else heads.activate(head, request.user)
        except TeachingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:jewel_vision_taughthead_change", args=[head.pk]))
        self.message_user(request, f"{head.facet}: the catalogue is being re-tagged (backfill {run.pk}).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:jewel_vision_backfillrun_progress", args=[run.pk]))


class ModelVersionAdmin(PageAdmin):
    page_view_name = "versions_view"

    def view_perms(self):
        return ("jewel_vision.view_taughthead", "jewel_vision.view_producttag")

    def versions_view(self, request):
        require(request, *self.view_perms())
        pipeline = configured_pipeline()
        made = (
            ProductTag.objects.filter(product_type=product_content_type(), source=ProductTag.Source.MODEL)
            .order_by().values("source_detail").annotate(n=Count("pk")).order_by("-n")
        )
        cards = [{"name": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted(CARDS_DIR.glob("*.md"))]
        taught = {}
        for head in TaughtHead.objects.exclude(status=TaughtHead.Status.FAILED).order_by("facet", "-created_at"):
            taught.setdefault(head.facet, []).append(head)
        context = page_context(
            self, request, "Model versions", pipeline_version=pipeline.version,
            models=sorted(pipeline.model_versions.items()), made=list(made), cards=cards, taught=taught,
            can_switch=all(request.user.has_perm(p) for p in SWITCH_PERMS),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/jewel_vision/model_versions.html", context)


admin.site.register(TaughtHead, TaughtHeadAdmin)
admin.site.register(ModelVersion, ModelVersionAdmin)
