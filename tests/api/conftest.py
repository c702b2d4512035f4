import pytest

from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401


@pytest.fixture
def api(client):
    return client


#: What a tag reviewer holds (tests/test_permissions.py checks each one alone).
REVIEWER_PERMISSIONS = ("view_producttag", "add_producttag", "change_producttag", "view_analysis")


@pytest.fixture
def staff(django_user_model):
    """A staff member in charge of tag review: the model permissions it needs, nothing more."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="jewel_vision", codename__in=REVIEWER_PERMISSIONS)
    )
    return user


@pytest.fixture
def shopper(django_user_model):
    return django_user_model.objects.create_user("shopper", password="pw-shopper-123")


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key
