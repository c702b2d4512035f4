"""The review queue at ``/admin/jewel_vision/review/``.

One page of the tags that need a person (:mod:`jewel_vision.services.review_queue`),
each with the crop of the photo it came from. From the keyboard: ``j``/``k`` move,
``a`` accepts, ``r`` rejects, ``c`` goes to the correction field (Enter saves the
corrected value), ``x`` selects a row for the bulk buttons. Seeing the queue needs
``jewel_vision.view_producttag``; deciding ``change_producttag``; a correction also
``add_producttag``.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path

from jewel_vision.admin_ui import teaching
from jewel_vision.admin_ui.common import PageAdmin, page_context, product_change_url, require
from jewel_vision.models import ProductTag, Review, Tag
from jewel_vision.services import review_queue

PAGE_SIZE = 50


class ReviewQueueAdmin(PageAdmin):
    page_view_name = "queue_view"

    def view_perms(self):
        return ("jewel_vision.view_producttag",)

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("jewel_vision.change_producttag")

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return self.page_urls() + [
            path("decide/", self.admin_site.admin_view(self.decide_view), name=f"{info[0]}_{info[1]}_decide"),
            path("label/", self.admin_site.admin_view(self.label_view), name=f"{info[0]}_{info[1]}_label"),
        ]

    def queue_view(self, request):
        require(request, "jewel_vision.view_producttag")
        reason = request.GET.get("reason", "")
        reason = reason if reason in ("conflict", "below") else ""
        facet = request.GET.get("facet", "")
        paginator = Paginator(review_queue.queue(reason, facet), PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
        items = review_queue.page_items(list(page.object_list))
        for item in items:
            item.product_url = product_change_url(item.product_tag.product_id)
        facets = list(Tag.objects.order_by("facet").values_list("facet", flat=True).distinct())
        context = page_context(
            self, request, "Review queue",
            items=items, page=page, paginator=paginator, reason=reason, facet=facet, facets=facets,
            reasons=review_queue.REASONS,
            can_decide=request.user.has_perm("jewel_vision.change_producttag"),
            can_correct=request.user.has_perm("jewel_vision.change_producttag")
            and request.user.has_perm("jewel_vision.add_producttag"),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/jewel_vision/review_queue.html", context)

    def label_view(self, request):
        return teaching.label_view(self, request)

    def decide_view(self, request):
        """POST ``action`` (accept, reject, correct), ``id`` (one or more), ``value`` (a correction)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        action = request.POST.get("action", "")
        perms = ["jewel_vision.change_producttag"] + (["jewel_vision.add_producttag"] if action == "correct" else [])
        require(request, *perms)
        ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()]
        tags = list(ProductTag.objects.filter(pk__in=ids).select_related("tag"))
        if action not in ("accept", "reject", "correct") or not tags:
            return JsonResponse({"error": "give an action (accept, reject, correct) and the ids of tags"}, status=400)
        value = request.POST.get("value", "")
        if action == "correct" and not value.strip():
            return JsonResponse({"error": "a correction needs a value"}, status=400)
        decisions = []
        for original, stored in zip(tags, review_queue.decide(tags, action, request.user, value)):
            decisions.append({
                "id": original.pk,
                "action": action,
                "tag": str(stored.tag),
                "state": stored.review_state,
                "by": request.user.get_username(),
                "at": stored.reviewed_at.isoformat() if stored.reviewed_at else None,
            })
        return JsonResponse({"decisions": decisions})


admin.site.register(Review, ReviewQueueAdmin)
