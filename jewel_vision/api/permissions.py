"""Who may do what: Django's model permissions, the same ones the admin checks.

* list a product's tags for review: ``jewel_vision.view_producttag``
* add a tag: ``jewel_vision.add_producttag``
* accept or reject a tag: ``jewel_vision.change_producttag``
* an image's raw analysis (every prediction, error texts): ``jewel_vision.view_analysis``

Grant them to a staff group in the admin (Authentication → Groups); a superuser
holds them all. Being staff alone grants nothing.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

VIEW_TAGS = "jewel_vision.view_producttag"
ADD_TAG = "jewel_vision.add_producttag"
CHANGE_TAG = "jewel_vision.change_producttag"
VIEW_ANALYSIS = "jewel_vision.view_analysis"


def has_perm(user, perm: str) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm(perm))


class ModelPermission(BasePermission):
    """The permission named for the request's method in ``perms`` (e.g. ``{"GET": VIEW_TAGS}``)."""

    perms: dict[str, str] = {}

    def required(self, request) -> str | None:
        return self.perms.get(request.method, self.perms.get("*"))

    def has_permission(self, request, view) -> bool:
        perm = self.required(request)
        if perm is None:
            return False
        if not has_perm(request.user, perm):
            self.message = f"You need the permission {perm} to do this."
            return False
        return True


class CanReviewTags(ModelPermission):
    """A product's tags: list them (view), add one (add)."""

    perms = {"GET": VIEW_TAGS, "HEAD": VIEW_TAGS, "OPTIONS": VIEW_TAGS, "POST": ADD_TAG}


class CanDecideTags(ModelPermission):
    """Accept or reject a tag (change)."""

    perms = {"*": CHANGE_TAG}
