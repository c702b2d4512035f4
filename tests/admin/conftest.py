"""Fixtures of the back office tests: staff holding exactly the permissions given."""

from __future__ import annotations

import pytest

from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401


@pytest.fixture
def staff(db, django_user_model):
    """``staff("jewel_vision.view_producttag", ...)``: a staff user with only these permissions."""
    from django.contrib.auth.models import Permission

    counter = iter(range(1000))

    def make(*perms: str, name: str | None = None):
        user = django_user_model.objects.create_user(name or f"staff{next(counter)}", password="pw-staff-123", is_staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return django_user_model.objects.get(pk=user.pk)  # a fresh object: no cached permissions

    return make


ALL_PERMS = (
    "shop.view_product", "shop.change_product",
    "jewel_vision.view_producttag", "jewel_vision.change_producttag", "jewel_vision.add_producttag",
    "jewel_vision.delete_producttag", "jewel_vision.view_analysis", "jewel_vision.change_analysis",
    "jewel_vision.view_backfillrun", "jewel_vision.add_backfillrun", "jewel_vision.change_backfillrun",
    "jewel_vision.add_tag", "jewel_vision.view_taughthead", "jewel_vision.add_taughthead", "jewel_vision.change_taughthead",
)


@pytest.fixture
def manager(staff):
    """A shop manager: every permission the back office uses, not a superuser."""
    return staff(*ALL_PERMS, name="manager")
