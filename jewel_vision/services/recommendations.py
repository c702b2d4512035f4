"""Recommendations from browsing history: this session's views, or a signed-in customer's over time.

Call :func:`record_view` from the product page (the demo shop does; so does
the API's product detail), passing the response. Views are kept in the session
when the visitor has one, else in a signed cookie, so an anonymous read never
creates a session row (the last ``RECENTLY_VIEWED`` products), and, for
signed-in customers, as ``ProductView`` rows: the newest
``PRODUCT_VIEWS_PER_USER`` per customer, older ones deleted as views are recorded.

:func:`recommend` searches the index once per recently viewed product (up to
five, newer ones weigh more), so several interests (rings *and* necklaces)
each get their share instead of one blurred average; what was viewed is
excluded in the index query, types viewed often are favoured, and MMR keeps
the list varied. With no history it falls back to new products.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core import signing

from jewel_vision.conf import jv_settings
from jewel_vision.registry import get_product_model
from jewel_vision.index import Filters, get_index
from jewel_vision.index.products import visible_tags
from jewel_vision.services.similarity import Card, _cards, centroid, mmr, product_vectors
from jewel_vision.models import ProductView, VectorItem

SESSION_KEY = "jewel_vision_viewed"
#: Signed cookie holding the recently viewed products of a visitor without a session.
COOKIE_NAME = "jv_viewed"
COOKIE_SALT = "jewel_vision.services.recommendations.viewed"
COOKIE_MAX_AGE = 30 * 24 * 3600
RECENCY_DECAY = 0.8
MAX_QUERIES = 5


def record_view(request: Any, product: Any, response: Any = None) -> None:
    """Remember that this visitor looked at ``product``.

    A visitor who already has a session (a session cookie, e.g. signed in) keeps the
    list in it. A visitor without one gets no session row: the list goes into a
    signed cookie (``COOKIE_NAME``) set on ``response``, so anonymous reads, and API
    clients that never send cookies back, write nothing to the database. Without a
    ``response`` the session is used as before. Signed-in customers' views are also
    kept as ``ProductView`` rows, the newest ``PRODUCT_VIEWS_PER_USER`` per customer.
    """
    pid = str(product.pk)
    viewed = [pid, *(p for p in _browser_views(request) if p != pid)][: jv_settings.RECENTLY_VIEWED]
    session = getattr(request, "session", None)
    has_session = session is not None and session.session_key is not None
    if has_session or (response is None and session is not None):
        session[SESSION_KEY] = viewed
    elif response is not None:
        response.set_cookie(
            COOKIE_NAME,
            signing.dumps(viewed, salt=COOKIE_SALT, compress=True),
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=bool(getattr(request, "is_secure", lambda: False)()),
        )
    try:
        request._jewel_vision_viewed = viewed
    except AttributeError:  # pragma: no cover - a request object without attributes
        pass
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        ptype = ContentType.objects.get_for_model(type(product))
        ProductView.objects.create(user=user, product_type=ptype, product_id=pid)
        keep = jv_settings.PRODUCT_VIEWS_PER_USER
        old = list(
            ProductView.objects.filter(user=user).order_by("-viewed_at", "-pk").values_list("pk", flat=True)[keep : keep + 500]
        )
        if old:
            ProductView.objects.filter(pk__in=old).delete()


def _browser_views(request: Any) -> list[str]:
    """Product ids remembered for this browser: this request's, else the session's or the signed cookie's."""
    remembered = getattr(request, "_jewel_vision_viewed", None)
    if remembered is not None:
        return list(remembered)
    ids: list[str] = []
    session = getattr(request, "session", None)
    if session is not None and session.session_key is not None:
        ids += [str(p) for p in session.get(SESSION_KEY, [])]
    raw = getattr(request, "COOKIES", {}).get(COOKIE_NAME)
    if raw:
        try:
            value = signing.loads(raw, salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE)
        except signing.BadSignature:
            value = []
        if isinstance(value, list):
            ids += [str(p)[:64] for p in value[: jv_settings.RECENTLY_VIEWED]]
    return list(dict.fromkeys(ids))


def viewed_products(request: Any, limit: int = 50) -> list[str]:
    """Product ids this visitor viewed, most recent first (session or cookie first, then account history)."""
    ids: list[str] = _browser_views(request)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        ptype = ContentType.objects.get_for_model(get_product_model())
        ids += list(
            ProductView.objects.filter(user=user, product_type=ptype)
            .order_by("-viewed_at", "-pk")
            .values_list("product_id", flat=True)[: limit * 4]
        )
    return list(dict.fromkeys(ids))[:limit]


def recommend(request: Any, limit: int = 8, *, in_stock_only: bool = True) -> list[Card]:
    return recommend_for(viewed_products(request), limit, in_stock_only=in_stock_only)


def recommend_for(viewed: list[str], limit: int = 8, *, in_stock_only: bool = True) -> list[Card]:
    """Recommendations for someone who viewed ``viewed`` (most recent first)."""
    if not viewed:
        return new_products(limit, in_stock_only=in_stock_only)
    vectors = product_vectors(viewed[: MAX_QUERIES * 2])
    recent = [p for p in viewed if p in vectors][:MAX_QUERIES]
    if not recent:
        return new_products(limit, in_stock_only=in_stock_only, exclude=viewed)
    filters = Filters(in_stock=True if in_stock_only else None, exclude_products=tuple(viewed))
    viewed_tags = visible_tags(recent)
    liked_types = Counter(t.top("type") for t in viewed_tags.values() if t.top("type"))
    relevance: dict[str, float] = defaultdict(float)
    image_of: dict[str, str] = {}
    sims: dict[str, float] = {}
    index = get_index()
    for rank, pid in enumerate(recent):
        query = centroid(vectors[pid])
        weight = RECENCY_DECAY**rank
        for hit in index.search_products(query, limit * 3, filters):
            value = weight * hit.score
            if value > relevance[hit.product_id]:
                relevance[hit.product_id] = value
                image_of[hit.product_id] = hit.image_id
                sims[hit.product_id] = hit.score
    tags = visible_tags(relevance)
    total = sum(liked_types.values()) or 1
    for pid in relevance:
        t = tags[pid].top("type")
        relevance[pid] += 0.1 * liked_types.get(t, 0) / total if t else 0.0
    ranked = sorted(relevance, key=lambda p: -relevance[p])[: limit * 4]
    cand_vectors = {p: c for p, v in product_vectors(ranked).items() if (c := centroid(v)) is not None}
    order = mmr(ranked, relevance, cand_vectors, limit * 2, lam=0.7)
    return _cards([(p, relevance[p], sims[p], "viewed", image_of[p]) for p in order], tags, limit)


def new_products(limit: int = 8, *, in_stock_only: bool = True, exclude: list[str] | None = None) -> list[Card]:
    """The most recently analysed products (for visitors without history)."""
    rows = VectorItem.objects.order_by("-analysis_id")
    if in_stock_only:
        rows = rows.filter(in_stock=True)
    if exclude:
        rows = rows.exclude(product_id__in=exclude)
    ids = list(dict.fromkeys(rows.values_list("product_id", flat=True)[: limit * 6]))[: limit * 2]
    tags = visible_tags(ids)
    return _cards([(p, 0.0, 0.0, "new", "") for p in ids], tags, limit)
