"""The index follows the database: analyses stored, photos and products deleted, price, stock and tags."""

import numpy as np
import pytest

from jewel_vision.conf import jv_settings

from jewel_vision.index import Filters, get_index
from jewel_vision.index.exact import ExactIndex
from jewel_vision.models import IndexChange, VectorItem
from tests.conftest import is_postgres
from tests.index.helpers import embed_photo

pytestmark = pytest.mark.django_db


def product_ids(hits):
    return [h.product_id for h in hits]


def test_a_stored_analysis_is_indexed_with_its_product_attributes(catalog):
    ring = catalog("ring", "gold", 1, price="250.00", stock=2, photos=2)
    rows = list(VectorItem.objects.filter(product_id=str(ring.pk)))
    assert len(rows) == 2
    assert {(r.item_type, r.metal, r.in_stock, r.price) for r in rows} == {("ring", "gold", True, 250.0)}
    hits = get_index().search(embed_photo("ring", "gold", 1), 5)
    assert hits[0].product_id == str(ring.pk) and hits[0].score == pytest.approx(1.0, abs=1e-3)


def test_deleting_a_photo_or_a_product_removes_it(catalog):
    ring = catalog("ring", "gold", 1, photos=2)
    necklace = catalog("necklace", "silver", 2)
    index = get_index()
    assert index.count() == 3
    ring.images.first().delete()
    assert VectorItem.objects.filter(product_id=str(ring.pk)).count() == 1
    assert index.count() == 2
    ring.delete()
    assert not VectorItem.objects.filter(product_id=str(ring.pk)).exists()
    assert product_ids(index.search(embed_photo("ring", "gold", 1), 10)) == [str(necklace.pk)]


def test_price_and_stock_changes_are_filtered_in_the_index(catalog):
    a = catalog("ring", "gold", 1, price="100.00", stock=1)
    b = catalog("ring", "gold", 2, price="900.00", stock=1)
    q = embed_photo("ring", "gold", 1)
    index = get_index()
    assert set(product_ids(index.search(q, 5, Filters(price_max=500)))) == {str(a.pk)}
    a.stock = 0
    a.save()
    b.price = 300
    b.save()
    assert product_ids(index.search(q, 5, Filters(in_stock=True))) == [str(b.pk)]
    assert product_ids(index.search(q, 5, Filters(price_min=200, price_max=400))) == [str(b.pk)]


def test_a_reviewed_type_changes_the_type_filter(catalog, admin_user):
    from jewel_vision.services import review
    from jewel_vision.models import ProductTag

    piece = catalog("earring", "gold", 3, tags={"type": "earring"})
    q = embed_photo("earring", "gold", 3)
    index = get_index()
    assert product_ids(index.search(q, 5, Filters(types=("earring",)))) == [str(piece.pk)]
    review.reject(ProductTag.objects.get(product_id=str(piece.pk), tag__facet="type"), admin_user)
    assert index.search(q, 5, Filters(types=("earring",))) == []
    review.add(piece, "type:pendant", admin_user)
    assert product_ids(index.search(q, 5, Filters(types=("pendant",)))) == [str(piece.pk)]


def test_the_type_filter_follows_the_label_threshold(catalog):
    sure = catalog("ring", "gold", 1, confidence=0.95, threshold=0.9)
    unsure = catalog("ring", "gold", 2, confidence=0.8, threshold=0.9)  # above DISPLAY_THRESHOLD, below its own
    assert {(r.product_id, r.item_type, r.metal) for r in VectorItem.objects.all()} == {
        (str(sure.pk), "ring", "gold"), (str(unsure.pk), "", "")}
    hits = get_index().search(embed_photo("ring", "gold", 2), 5, Filters(types=("ring",)))
    assert product_ids(hits) == [str(sure.pk)]


def test_another_process_catches_up_through_the_change_log(catalog):
    first = catalog("ring", "gold", 1)
    other = ExactIndex()  # as in another web process
    q = embed_photo("bracelet", "silver", 4)
    assert product_ids(other.search(q, 5)) == [str(first.pk)]
    second = catalog("bracelet", "silver", 4)
    assert IndexChange.objects.filter(product_id=str(second.pk)).exists()
    assert product_ids(other.search(q, 5))[0] == str(second.pk)
    second.delete()
    assert str(second.pk) not in product_ids(other.search(q, 5))


def test_a_rolled_back_change_is_not_seen(catalog):
    from django.db import transaction

    keep = catalog("ring", "gold", 1)
    index = get_index()
    q = embed_photo("necklace", "gold", 5)
    with pytest.raises(RuntimeError), transaction.atomic():
        catalog("necklace", "gold", 5)
        raise RuntimeError("rollback")
    assert product_ids(index.search(q, 5)) == [str(keep.pk)]


def test_rebuild_recomputes_every_row(catalog):
    from django.core.management import call_command

    a = catalog("ring", "gold", 1)
    b = catalog("necklace", "silver", 2)
    VectorItem.objects.all().delete()  # lost rows
    call_command("jewel_vision_build_index", backend="pgvector" if _pgvector() else "exact")
    assert set(VectorItem.objects.values_list("product_id", flat=True)) == {str(a.pk), str(b.pk)}
    assert product_ids(get_index().search(embed_photo("necklace", "silver", 2), 1)) == [str(b.pk)]


def _pgvector() -> bool:
    from jewel_vision.index import pgvector

    return is_postgres() and pgvector.is_ready()


def test_backend_follows_the_setting(settings, jv_env):
    from django.core.exceptions import ImproperlyConfigured

    from jewel_vision.index import reset_indexes

    from jewel_vision.index import sync

    # "auto": the in-process index for a small catalogue, pgvector above INDEX_IN_PROCESS_MAX_PHOTOS.
    settings.JEWEL_VISION = {**jv_env, "INDEX_BACKEND": "auto"}
    reset_indexes()
    assert sync.indexed_photos() <= jv_settings.INDEX_IN_PROCESS_MAX_PHOTOS
    assert get_index().name == "exact"
    # -1: any catalogue, even an empty one, is too big for the in-process index.
    settings.JEWEL_VISION = {**jv_env, "INDEX_BACKEND": "auto", "INDEX_IN_PROCESS_MAX_PHOTOS": -1}
    reset_indexes()
    assert get_index().name == ("pgvector" if _pgvector() else "exact")
    settings.JEWEL_VISION = {**jv_env, "INDEX_BACKEND": "exact"}
    reset_indexes()
    assert get_index().name == "exact"
    settings.JEWEL_VISION = {**jv_env, "INDEX_BACKEND": "pgvector"}
    reset_indexes()
    if _pgvector():
        assert get_index().name == "pgvector"
    else:
        with pytest.raises(ImproperlyConfigured, match="pgvector"):
            get_index()


def test_auto_leaves_the_in_process_index_above_the_documented_limit(settings, jv_env, catalog, caplog, monkeypatch):
    from django.db import connection

    from jewel_vision.conf import DEFAULTS
    from jewel_vision.index import reset_indexes, sync

    # The README's rule: every web process holds the in-process index (2.5 KB a photo in float16),
    # so "auto" keeps it up to 100,000 photos.
    assert DEFAULTS["INDEX_IN_PROCESS_MAX_PHOTOS"] == 100_000
    catalog("ring", "gold", 1, photos=2)
    if is_postgres():
        with connection.cursor() as cur:
            cur.execute("ANALYZE jewel_vision_vectoritem")  # "auto" reads the planner's row count there
    settings.JEWEL_VISION = {**jv_env, "INDEX_BACKEND": "auto", "INDEX_IN_PROCESS_MAX_PHOTOS": 2}
    reset_indexes()
    assert sync.indexed_photos() == 2
    assert get_index().name == "exact"  # at the limit: in process
    settings.JEWEL_VISION = {**jv_env, "INDEX_BACKEND": "auto", "INDEX_IN_PROCESS_MAX_PHOTOS": 1}
    reset_indexes()
    monkeypatch.setattr(sync, "_warned_too_big", False)
    with caplog.at_level("WARNING", logger=sync.logger.name):
        name = get_index().name
    if _pgvector():
        assert name == "pgvector"
    else:  # no pgvector to move to: stays in process, and says so
        assert name == "exact" and "INDEX_IN_PROCESS_MAX_PHOTOS" in caplog.text


def test_queries_must_be_usable_vectors(catalog):
    catalog("ring", "gold", 1)
    with pytest.raises(ValueError):
        get_index().search(np.zeros(1280, np.float32), 3)
