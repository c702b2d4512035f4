"""Jewel Vision in the shop's own product admin: ``JewelProductAdminMixin``.

A shop applies it to the ``ModelAdmin`` of whatever product model it configured::

    from jewel_vision.admin import JewelProductAdminMixin

    @admin.register(Item)
    class ItemAdmin(JewelProductAdminMixin, admin.ModelAdmin):
        list_display = ("title", "price")

It adds a thumbnail, tag badges (confidence, source, review state) and the analysis
state to the change list; filters by facet (type, metal, metal tone, stone, style, hallmark) and by
analysis state; the photos with their detected boxes and masks (each can be switched
off) and the badges to the change form; and the actions *re-analyse* (a backfill of
the selected products, with its progress page), *accept all suggestions* and *clear
suggestions*. A photo that is a near copy of another product's photo is flagged on the
product's page, both shown side by side. Each needs Django's model permission: seeing tags
``jewel_vision.view_producttag``, the photos' analyses ``view_analysis``,
re-analysing ``change_analysis``, accepting ``change_producttag``, clearing
``delete_producttag``. The change list makes the same number of queries whatever its
page size: the tags, analyses and photos of a page are read in one query each.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from PIL import Image

from jewel_vision.analysis import backfill
from jewel_vision.conf import jv_settings
from jewel_vision.index.products import first_image_urls, product_images
from jewel_vision.models import Analysis, ProductTag, StoredDetection, StoredRegion
from jewel_vision.admin_ui.common import product_change_url
from jewel_vision.registry import get_image_model, image_content_type, product_content_type
from jewel_vision.services import catalogue, duplicates, review
from jewel_vision.services.aggregation import EXCLUSIVE_FACETS
from jewel_vision.services.locking import lock_product

FACET_FILTERS = ("type", "metal", "metal_tone", "stone", "style", "hallmark")
MASK_COLOURS = {"item": (40, 120, 255), "metal": (255, 190, 0), "stone": (230, 40, 200)}

PERMS = {
    "tags": "jewel_vision.view_producttag",
    "analyses": "jewel_vision.view_analysis",
    "analyse": "jewel_vision.change_analysis",
    "accept": "jewel_vision.change_producttag",
    "clear": "jewel_vision.delete_producttag",
}


def tag_badges(tags: list[ProductTag]) -> str:
    """Badges for a product's tags: value, confidence, source; state and threshold as classes.

    Escaped with :func:`html.escape` (what Django's ``escape`` does) and joined once: a
    change list draws 500 of them, and ``format_html`` per value was a fifth of its time.
    """
    out = []
    for t in tags:
        shown_from = t.display_threshold
        below = t.review_state == ProductTag.Review.SUGGESTED and t.confidence < shown_from
        classes = f"jv-badge jv-badge--{t.review_state}" + (" jv-badge--below" if below else "")
        who = ""
        if t.reviewed_at:
            name = t.reviewed_by.get_username() if t.reviewed_by else "someone"
            who = f"; {t.get_review_state_display().lower()} by {name} on {t.reviewed_at:%Y-%m-%d %H:%M}"
        title = f"{t.source_detail or t.source}; shown from {shown_from:.2f}{who}"
        out.append(
            f'<span class="{_esc(classes)}" title="{_esc(title)}" data-tag="{_esc(str(t.tag))}"><b>{_esc(t.tag.facet)}</b>: '
            f"{_esc(t.tag.value)} <i>{round(100 * t.confidence)}%</i> <small>{_esc(t.source)}</small></span>"
        )
    return mark_safe("".join(out))


def _esc(text: str) -> str:
    return html.escape(str(text))


def mask_data_uri(mask_png: bytes, label: str) -> str:
    """A single-channel mask as a translucent coloured PNG to lay over the photo."""
    mask = Image.open(io.BytesIO(bytes(mask_png))).convert("L")
    colour = Image.new("RGBA", mask.size, (*MASK_COLOURS.get(label, (0, 200, 120)), 255))
    colour.putalpha(mask.point(lambda v: 110 if v > 127 else 0))
    buf = io.BytesIO()
    colour.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def photos_with_findings(product: Any) -> list[dict]:
    """The product's photos with the boxes and masks of their current analyses, and any near copy of
    each in another product (a fixed number of queries, one index search per photo)."""
    images = product_images(str(product.pk))
    analyses = {
        a.image_id: a
        for a in Analysis.objects.filter(
            image_type=image_content_type(), image_id__in=[str(i.pk) for i in images], is_current=True
        )
    }
    done = [a.pk for a in analyses.values() if a.status == Analysis.Status.DONE]
    boxes: dict[int, list] = {}
    for d in StoredDetection.objects.filter(analysis_id__in=done).order_by("-score"):
        boxes.setdefault(d.analysis_id, []).append(d)
    masks: dict[int, list] = {}
    for r in StoredRegion.objects.filter(analysis_id__in=done):
        masks.setdefault(r.analysis_id, []).append({"label": r.label, "uri": mask_data_uri(r.mask_png, r.label)})
    copies: dict[int, list] = {}
    others = []
    if done:
        for copy in duplicates.near_copies(done, str(product.pk)):
            copies.setdefault(copy.analysis_id, []).append(copy)
            others.append(copy.other_image_id)
    other_images = {str(k): v for k, v in get_image_model()._default_manager.in_bulk(others).items()} if others else {}
    out = []
    for image in images:
        analysis = analyses.get(str(image.pk))
        out.append({
            "url": _file_url(image),
            "analysis": analysis,
            "boxes": [
                {"label": d.label, "score": d.score, "left": 100 * min(d.x0, d.x1), "top": 100 * min(d.y0, d.y1),
                 "width": 100 * abs(d.x1 - d.x0), "height": 100 * abs(d.y1 - d.y0)}
                for d in boxes.get(getattr(analysis, "pk", None), [])
            ],
            "masks": masks.get(getattr(analysis, "pk", None), []),
            "near_copies": [
                {"product_url": product_change_url(c.other_product_id), "product_id": c.other_product_id,
                 "url": _file_url(other_images.get(c.other_image_id)), "similarity": c.similarity}
                for c in copies.get(getattr(analysis, "pk", None), [])
            ],
        })
    return out


def _file_url(image) -> str:
    file = getattr(image, jv_settings.IMAGE_FIELD, None) if image is not None else None
    return file.url if file else ""


class FacetFilter(admin.SimpleListFilter):
    """Products with a visible tag of one value of ``facet`` (see :func:`facet_filter`)."""

    facet = ""

    def lookups(self, request, model_admin):
        return [(v, v) for v in catalogue.facet_values(self.facet)] + [(catalogue.NONE, "(none)")]

    def queryset(self, request, queryset):
        return catalogue.filter_facet(queryset, self.facet, self.value()) if self.value() else queryset


def facet_filter(facet: str) -> type[FacetFilter]:
    """A list filter on the values of ``facet`` (parameter ``jv_<facet>``)."""
    return type(f"{facet.title()}FacetFilter", (FacetFilter,), {
        "facet": facet, "title": facet.replace("_", " "), "parameter_name": f"jv_{facet}",
    })


class AnalysisStateFilter(admin.SimpleListFilter):
    title = "analysis state"
    parameter_name = "jv_state"

    def lookups(self, request, model_admin):
        return list(catalogue.STATES.items())

    def queryset(self, request, queryset):
        return catalogue.filter_state(queryset, self.value()) if self.value() in catalogue.STATES else queryset


class PageFindingsMixin:
    """A change list that reads the tags, analyses and first photos of its page in three queries."""

    def get_results(self, request):
        super().get_results(request)
        ids = [str(obj.pk) for obj in self.result_list]
        tags = catalogue.tags_by_product(ids)
        counts = catalogue.analysis_counts(ids)
        thumbs = first_image_urls(ids)
        for obj in self.result_list:
            pid = str(obj.pk)
            obj._jv_tags = tags.get(pid, [])
            obj._jv_analyses = counts.get(pid, {})
            obj._jv_thumb = thumbs.get(pid, "")


class JewelProductAdminMixin:
    """Mix into the shop's product ``ModelAdmin`` (before ``admin.ModelAdmin``)."""

    jv_facet_filters: tuple[str, ...] = FACET_FILTERS

    @property
    def media(self):
        return super().media + forms.Media(
            css={"all": ["jewel_vision/admin/jv-admin.css"]}, js=["jewel_vision/admin/overlay.js"]
        )

    # --- change list ---

    def get_changelist(self, request, **kwargs):
        return type("JewelChangeList", (PageFindingsMixin, super().get_changelist(request, **kwargs)), {})

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if not request.user.has_perm(PERMS["tags"]):
            return columns
        return ["jv_thumbnail", *columns, "jv_tags", *(["jv_analysis"] if request.user.has_perm(PERMS["analyses"]) else [])]

    def get_list_display_links(self, request, list_display):
        links = super().get_list_display_links(request, list_display)
        # The shop's first column stays the link, not the thumbnail put before it.
        if links and list(links) == ["jv_thumbnail"] and len(list_display) > 1:
            return [list_display[1]]
        return links

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.has_perm(PERMS["tags"]):
            filters += [facet_filter(f) for f in self.jv_facet_filters] + [AnalysisStateFilter]
        return filters

    @admin.display(description="photo")
    def jv_thumbnail(self, obj) -> str:
        url = getattr(obj, "_jv_thumb", "")
        return format_html('<img class="jv-thumb" src="{}" alt="" loading="lazy">', url) if url else "—"

    @admin.display(description="tags")
    def jv_tags(self, obj) -> str:
        return tag_badges(getattr(obj, "_jv_tags", [])) or "—"

    @admin.display(description="analysis")
    def jv_analysis(self, obj) -> str:
        counts = getattr(obj, "_jv_analyses", {})
        if not counts:
            return format_html('<span class="jv-state jv-state--never">{}</span>', "never analysed")
        return format_html_join(" ", '<span class="jv-state jv-state--{}">{} {}</span>',
                                ((s, n, s) for s, n in sorted(counts.items())))

    # --- change form ---

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + self._jv_form_fields(request, obj)

    def get_fieldsets(self, request, obj=None):
        extra = self._jv_form_fields(request, obj)
        fieldsets = [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in extra]})
            for name, opts in super().get_fieldsets(request, obj)
        ]
        return fieldsets + ([("Jewel Vision", {"fields": extra, "classes": ["jv-fieldset"]})] if extra else [])

    def _jv_form_fields(self, request, obj) -> list[str]:
        if obj is None or not request.user.has_perm(PERMS["tags"]):
            return []
        return ["jv_tag_badges", *(["jv_photos"] if request.user.has_perm(PERMS["analyses"]) else [])]

    @admin.display(description="tags")
    def jv_tag_badges(self, obj) -> str:
        return tag_badges(catalogue.tags_by_product([str(obj.pk)]).get(str(obj.pk), [])) or "—"

    @admin.display(description="photos and what was found")
    def jv_photos(self, obj) -> str:
        return render_to_string("jewel_vision/admin/photos_panel.html", {"photos": photos_with_findings(obj)})

    # --- actions ---

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name in ("jv_reanalyse", "jv_accept_suggestions", "jv_clear_suggestions", "jv_tray_count"):
            func, _name, description = self.get_action(name)
            if all(getattr(self, f"has_{p}_permission")(request) for p in func.allowed_permissions):
                actions[name] = (func, name, description)
        return actions

    def has_jv_analyse_permission(self, request) -> bool:
        return request.user.has_perm(PERMS["analyse"]) and request.user.has_perm("jewel_vision.add_backfillrun")

    def has_jv_tray_permission(self, request) -> bool:
        return all(request.user.has_perm(p) for p in (PERMS["tags"], PERMS["analyses"]))

    def has_jv_accept_permission(self, request) -> bool:
        return request.user.has_perm(PERMS["accept"])

    def has_jv_clear_permission(self, request) -> bool:
        return request.user.has_perm(PERMS["clear"])

    @admin.action(description="Re-analyse the photos of the selected products", permissions=["jv_analyse"])
    def jv_reanalyse(self, request, queryset):
        run = backfill.start(
            backfill.Selection.PRODUCTS, user=request.user, product_ids=[str(pk) for pk in queryset.values_list("pk", flat=True)]
        )
        return HttpResponseRedirect(reverse("admin:jewel_vision_backfillrun_progress", args=[run.pk]))

    @admin.action(description="Count the selected products on a tray photo", permissions=["jv_tray"])
    def jv_tray_count(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:jewel_vision_inventory_tray')}?ids={ids}")

    @admin.action(description="Accept all suggestions of the selected products", permissions=["jv_accept"])
    def jv_accept_suggestions(self, request, queryset):
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        suggested = ProductTag.objects.filter(
            product_type=product_content_type(), product_id__in=ids, review_state=ProductTag.Review.SUGGESTED
        ).select_related("tag").order_by("product_id", "tag__facet", "-confidence")
        accepted, seen = 0, set()
        for product_tag in suggested:
            # In a one-value facet, accepting the best suggestion removes the others.
            key = (product_tag.product_id, product_tag.tag.facet)
            if product_tag.tag.facet in EXCLUSIVE_FACETS and key in seen:
                continue
            seen.add(key)
            review.accept(product_tag, request.user)
            accepted += 1
        self.message_user(request, f"{accepted} suggestions accepted on {len(ids)} products.", messages.SUCCESS)

    @admin.action(description="Clear the model's suggestions of the selected products", permissions=["jv_clear"])
    def jv_clear_suggestions(self, request, queryset):
        ptype = product_content_type()
        cleared = 0
        for pk in queryset.values_list("pk", flat=True):
            with transaction.atomic():
                lock_product(ptype, str(pk))
                cleared += ProductTag.objects.filter(
                    product_type=ptype, product_id=str(pk), source=ProductTag.Source.MODEL,
                    review_state=ProductTag.Review.SUGGESTED,
                ).delete()[0]
        self.message_user(request, f"{cleared} suggestions cleared (people's decisions are kept).", messages.SUCCESS)
