"""Recommendations from the session's views and a signed-in customer's history."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore

from jewel_vision.services import recommendations
from jewel_vision.models import ProductView
from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401

pytestmark = pytest.mark.django_db


class Visit:
    def __init__(self, user=None):
        self.session = SessionStore()
        self.user = user or AnonymousUser()


def ids(cards):
    return [c.product_id for c in cards]


def test_the_session_remembers_recent_views(settings, jv_env, make_product):
    settings.JEWEL_VISION = {**jv_env, "RECENTLY_VIEWED": 3}
    visit = Visit()
    products = [make_product() for _ in range(5)]
    for p in [*products, products[1]]:
        recommendations.record_view(visit, p)
    assert recommendations.viewed_products(visit) == [str(products[1].pk), str(products[4].pk), str(products[3].pk)]
    assert not ProductView.objects.exists()


def test_several_interests_each_get_their_share(catalog):
    rings = [catalog("ring", "gold", s) for s in (1, 2, 3)]
    necklaces = [catalog("necklace", "silver", s) for s in (4, 5, 6)]
    catalog("bracelet", "gold", 7, stock=0)
    visit = Visit()
    recommendations.record_view(visit, rings[0])
    recommendations.record_view(visit, necklaces[0])
    got = ids(recommendations.recommend(visit, limit=4))
    assert str(rings[0].pk) not in got and str(necklaces[0].pk) not in got
    assert {str(p.pk) for p in rings[1:]} & set(got) and {str(p.pk) for p in necklaces[1:]} & set(got)
    assert len(got) >= 3  # near-copies collapsed; the sold-out bracelet is never recommended
    assert all(g in {str(p.pk) for p in rings + necklaces} for g in got)


def test_a_customer_history_lasts_beyond_the_session(catalog, django_user_model):
    user = django_user_model.objects.create_user("ann")
    earrings = [catalog("earring", "gold", s) for s in (1, 2)]
    catalog("watch", "silver", 3)
    recommendations.record_view(Visit(user), earrings[0])
    later = Visit(user)  # a new session, the same customer
    assert recommendations.viewed_products(later) == [str(earrings[0].pk)]
    assert ids(recommendations.recommend(later, limit=1)) == [str(earrings[1].pk)]


def test_no_history_gives_new_products(catalog):
    old = catalog("ring", "gold", 1)
    new = catalog("necklace", "gold", 2)
    got = ids(recommendations.recommend(Visit(), limit=2))
    assert got == [str(new.pk), str(old.pk)]
    assert recommendations.recommend(Visit(), limit=2)[0].reason == "new"
