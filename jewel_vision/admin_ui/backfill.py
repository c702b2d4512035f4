"""Backfills in the admin: start one, watch its live progress bar, resume or cancel it.

Starting needs ``jewel_vision.add_backfillrun`` and ``change_analysis`` (it analyses
photos again); watching ``view_backfillrun``; resuming and cancelling ``change_backfillrun``.
The steps run on the workers (the task ``jewel_vision.backfill_step``).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from jewel_vision.admin_ui.common import page_context, require
from jewel_vision.analysis import backfill
from jewel_vision.models import BackfillRun


class BackfillForm(forms.ModelForm):
    selection = forms.ChoiceField(choices=[c for c in BackfillRun.Selection.choices if c[0] != BackfillRun.Selection.PRODUCTS])

    class Meta:
        model = BackfillRun
        fields = ("selection", "rate", "max_in_flight")
        help_texts = {
            "rate": "Enqueue at most this many photos a second.",
            "max_in_flight": "Never more than this many analyses waiting or running at once.",
        }


class BackfillRunAdmin(admin.ModelAdmin):
    form = BackfillForm
    list_display = ("__str__", "status", "progress_bar", "enqueued", "skipped", "started_by", "created_at", "finished_at")
    list_filter = ("status", "selection")
    list_select_related = ("started_by",)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and request.user.has_perm("jewel_vision.change_analysis")

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in BackfillRun._meta.fields] + ["progress_link"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("selection", "rate", "max_in_flight")
        return ("progress_link", "selection", "status", "pipeline_version", "total", "enqueued", "skipped", "cursor",
                "rate", "max_in_flight", "started_by", "created_at", "finished_at", "summary")

    @admin.display(description="progress")
    def progress_bar(self, obj) -> str:
        url = reverse("admin:jewel_vision_backfillrun_progress", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, "watch" if obj.status == BackfillRun.Status.RUNNING else "summary")

    @admin.display(description="progress")
    def progress_link(self, obj) -> str:
        return self.progress_bar(obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        run = backfill.start(
            form.cleaned_data["selection"], user=request.user, rate=obj.rate, max_in_flight=obj.max_in_flight
        )
        obj.pk = run.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:jewel_vision_backfillrun_progress", args=[obj.pk]))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", wrap(self.progress_view), name="jewel_vision_backfillrun_progress"),
            path("<int:pk>/progress.json", wrap(self.progress_json), name="jewel_vision_backfillrun_progress_json"),
            path("<int:pk>/control/", wrap(self.control_view), name="jewel_vision_backfillrun_control"),
        ] + super().get_urls()

    def progress_view(self, request, pk: int):
        require(request, "jewel_vision.view_backfillrun")
        run = get_object_or_404(BackfillRun, pk=pk)
        stalled = run.status == BackfillRun.Status.RUNNING and run.updated_at < timezone.now() - timedelta(seconds=30)
        context = page_context(
            self, request, f"Backfill {run.pk}", run=run, progress=backfill.progress(run), stalled=stalled,
            can_control=request.user.has_perm("jewel_vision.change_backfillrun"),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/jewel_vision/backfill_progress.html", context)

    def progress_json(self, request, pk: int):
        require(request, "jewel_vision.view_backfillrun")
        return JsonResponse(backfill.progress(get_object_or_404(BackfillRun, pk=pk)))

    def control_view(self, request, pk: int):
        """POST ``do=resume`` (send its next step again) or ``do=cancel``."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        require(request, "jewel_vision.change_backfillrun")
        run = get_object_or_404(BackfillRun, pk=pk)
        if request.POST.get("do") == "cancel":
            backfill.cancel(run)
            self.message_user(request, f"Backfill {run.pk} cancelled; what it had sent is still analysed.", messages.WARNING)
        elif run.status == BackfillRun.Status.RUNNING:
            transaction.on_commit(lambda: backfill.send_step(run.pk, countdown=0))
            self.message_user(request, f"Backfill {run.pk} resumed.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:jewel_vision_backfillrun_progress", args=[run.pk]))


admin.site.register(BackfillRun, BackfillRunAdmin)
