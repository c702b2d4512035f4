import pytest

from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401


@pytest.fixture
def api(client):
    return client


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def shopper(django_user_model):
    return django_user_model.objects.create_user("shopper", password="pw-shopper-123")


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key
