from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    """Shop staff (``is_staff``): tag review and other writes."""

    message = "Only shop staff may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
