"""The contract a mobile app trusts: a typed client generated from the committed schema
(``jewel_vision/api/schema/v1.yaml``, by openapi-python-client) drives a live server through the
flows of the app. A response the schema does not describe fails: an undocumented status
(``raise_on_unexpected_status``), a missing field or an unknown enum value (the models' ``from_dict``),
a field the schema does not name (``additional_properties``), a body that does not round-trip.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jewel_vision.api.openapi import COMMITTED_SCHEMA
from tests.api.conftest import token_for
from tests.api.test_photo_and_review import two_pieces_photo

PACKAGE = "jv_mobile_client"


@pytest.fixture(scope="module")
def api_client_package(tmp_path_factory):
    pytest.importorskip("openapi_python_client")
    out = tmp_path_factory.mktemp("client")
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run(
        [str(generator), "generate", "--path", str(COMMITTED_SCHEMA), "--meta", "none",
         "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def no_extras(value, where="body"):
    """Every model holds only the fields the schema names."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            no_extras(item, f"{where}[{i}]")
        return
    extra = getattr(value, "additional_properties", None)
    if extra is None or not hasattr(value, "to_dict"):
        return
    declared = {f.name for f in type(value).__attrs_attrs__} - {"additional_properties"}
    if declared:  # a model with properties; free-form maps (facets, timings) hold their entries here
        assert extra == {}, f"{where}: fields the schema does not name: {sorted(extra)}"
    for name in declared:
        no_extras(getattr(value, name), f"{where}.{name}")


def ok(response, model, status=200):
    """A documented success, parsed into ``model``, holding exactly what the server sent."""
    assert response.status_code == status, response.content[:500]
    parsed = response.parsed
    items = parsed if isinstance(parsed, list) else [parsed]
    assert all(isinstance(x, model) for x in items), (type(parsed), response.content[:300])
    no_extras(parsed)
    sent = _utc(json.loads(response.content))
    assert ([x.to_dict() for x in parsed] if isinstance(parsed, list) else parsed.to_dict()) == sent
    return parsed


def _utc(value):
    """Datetimes as the client writes them back ("Z" is "+00:00")."""
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    if isinstance(value, str) and len(value) > 20 and value[10:11] == "T" and value.endswith("Z"):
        return value[:-1] + "+00:00"
    return value


def error(response, status, Error):
    assert response.status_code == status, response.content[:500]
    assert isinstance(response.parsed, Error) and response.parsed.error.status == status
    return response.parsed.error


def test_a_generated_client_through_the_mobile_flows(transactional_db, live_server, catalog, staff,
                                                     api_client_package):
    import time

    started = time.monotonic()
    c = api_client_package
    api = importlib.import_module(f"{PACKAGE}.api")  # noqa: F841 - the package imports
    from importlib import import_module as im

    m = im(f"{PACKAGE}.models")
    products_list = im(f"{PACKAGE}.api.products.products_list")
    product_retrieve = im(f"{PACKAGE}.api.products.product_retrieve")
    similar = im(f"{PACKAGE}.api.products.products_similar_retrieve")
    complete = im(f"{PACKAGE}.api.products.products_complete_the_look_retrieve")
    tags_list = im(f"{PACKAGE}.api.products.products_tags_list")
    tags_create = im(f"{PACKAGE}.api.products.products_tags_create")
    reject = im(f"{PACKAGE}.api.product_tags.product_tags_reject_create")
    accept = im(f"{PACKAGE}.api.product_tags.product_tags_accept_create")
    recommendations = im(f"{PACKAGE}.api.recommendations.recommendations_retrieve")
    search = im(f"{PACKAGE}.api.search.search_retrieve")
    photo = im(f"{PACKAGE}.api.search.search_photo_create")
    facets = im(f"{PACKAGE}.api.facets.facets_retrieve")
    types = im(f"{PACKAGE}.types")

    ring = catalog("ring", "gold", 13, price="120.00", tags={"type": "ring", "metal": "gold", "stone": "diamond"})
    silver_ring = catalog("ring", "silver", 13, price="90.00")
    necklace = catalog("necklace", "gold", 11, price="300.00")
    bracelet = catalog("bracelet", "silver", 12, price="80.00")
    catalog("earring", "gold", 14, price="60.00", stock=0)
    shopper = c.Client(base_url=live_server.url, raise_on_unexpected_status=True)

    # Browse: pages, filters, an empty price range, a page past the end.
    page1 = ok(products_list.sync_detailed(client=shopper, page_size=2), m.ProductPage)
    assert page1.count == 5 and len(page1.results) == 2 and page1.next_ and page1.previous is None
    page3 = ok(products_list.sync_detailed(client=shopper, page_size=2, page=3), m.ProductPage)
    assert page3.next_ is None and len(page3.results) == 1
    rings = ok(products_list.sync_detailed(client=shopper, type_="ring", metal="gold", in_stock=True), m.ProductPage)
    assert [p.id for p in rings.results] == [str(ring.pk)]
    assert {(t.facet, t.value) for t in rings.results[0].tags} >= {("type", "ring"), ("stone", "diamond")}
    assert ok(products_list.sync_detailed(client=shopper, price_min=200, price_max=100), m.ProductPage).count == 0
    error(products_list.sync_detailed(client=shopper, page=99), 404, m.Error)
    found = ok(search.sync_detailed(client=shopper, q="gold ring"), m.TextSearchResponse)
    assert str(ring.pk) in [p.id for p in found.results]
    ok(facets.sync_detailed(client=shopper), m.FacetCounts)

    # Product detail, revalidated with its ETag (304, nothing to download again).
    detail = product_retrieve.sync_detailed(str(ring.pk), client=shopper)
    assert ok(detail, m.Product).title.startswith("Gold ring")
    etag = detail.headers["ETag"]
    again = product_retrieve.sync_detailed(str(ring.pk), client=shopper.with_headers({"If-None-Match": etag}))
    assert again.status_code == 304 and again.content == b""
    error(product_retrieve.sync_detailed("999999", client=shopper), 404, m.Error)

    # Similar items and complete the look.
    sim = ok(similar.sync_detailed(str(ring.pk), client=shopper, limit=4), m.CardList)
    assert sim.results and sim.results[0].id == str(silver_ring.pk) and str(ring.pk) not in [x.id for x in sim.results]
    look = ok(complete.sync_detailed(str(ring.pk), client=shopper), m.CardList)
    assert look.results and all(x.id not in (str(ring.pk), str(silver_ring.pk)) for x in look.results)

    # Recommendations across a session (the client keeps the server's cookie).
    session = c.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    fresh = ok(recommendations.sync_detailed(client=session), m.CardList)
    assert {x.reason.value for x in fresh.results} <= {"new"}
    ok(product_retrieve.sync_detailed(str(necklace.pk), client=session), m.Product)
    ok(product_retrieve.sync_detailed(str(ring.pk), client=session), m.Product)
    after = ok(recommendations.sync_detailed(client=session, limit=3), m.CardList)
    assert after.results and {x.id for x in after.results}.isdisjoint({str(necklace.pk), str(ring.pk)})
    assert [x.id for x in after.results] != [x.id for x in fresh.results][:3] or {x.reason.value for x in after.results} != {"new"}

    # Search by photo, then again with a picked box.
    body = m.PhotoSearchRequestRequest(image=types.File(payload=__import__("io").BytesIO(two_pieces_photo()),
                                                         file_name="photo.jpg", mime_type="image/jpeg"))
    whole = ok(photo.sync_detailed(client=shopper, body=body), m.PhotoSearchResponse)
    assert whole.recognised and whole.tags
    # The app offers the pieces found to pick from (or lets the shopper draw a box when it found one).
    left = min(whole.detections, key=lambda d: d.box[0]).box if len(whole.detections) > 1 else [0, 0, 0.5, 1]
    picked = m.PhotoSearchRequestRequest(
        image=types.File(payload=__import__("io").BytesIO(two_pieces_photo()), file_name="photo.jpg",
                         mime_type="image/jpeg"),
        box=",".join(f"{v:.4f}" for v in left),
    )
    piece = ok(photo.sync_detailed(client=shopper, body=picked), m.PhotoSearchResponse)
    assert piece.results[0].id == str(necklace.pk) and piece.detections == []
    blank = __import__("io").BytesIO()
    __import__("PIL.Image", fromlist=["Image"]).new("RGB", (64, 64), "white").save(blank, "PNG")
    nothing = ok(photo.sync_detailed(client=shopper, body=m.PhotoSearchRequestRequest(
        image=types.File(payload=__import__("io").BytesIO(blank.getvalue()), file_name="b.png", mime_type="image/png"))),
        m.PhotoSearchResponse)
    assert not nothing.recognised and nothing.tags == [] and nothing.results == []

    # Tag review with a staff token; shoppers are refused in the documented shape.
    reviewer = c.AuthenticatedClient(base_url=live_server.url, token=token_for(staff), prefix="Token",
                                     raise_on_unexpected_status=True)
    error(tags_list.sync_detailed(str(ring.pk), client=shopper), 401, m.Error)
    listed = ok(tags_list.sync_detailed(str(ring.pk), client=reviewer), m.ReviewTag)
    stone = next(t for t in listed if t.facet == "stone")
    assert ok(reject.sync_detailed(stone.id, client=reviewer), m.ReviewTag).review_state.value == "rejected"
    typ = next(t for t in listed if t.facet == "type")
    assert ok(accept.sync_detailed(typ.id, client=reviewer), m.ReviewTag).review_state.value == "accepted"
    added = ok(tags_create.sync_detailed(str(ring.pk), client=reviewer, body=m.AddTagRequest(tag="style:vintage")),
               m.ReviewTag, status=201)
    assert (added.facet, added.value, added.source.value) == ("style", "vintage", "person")
    bad = tags_create.sync_detailed(str(ring.pk), client=reviewer, body=m.AddTagRequest(tag="no colon"))
    assert "tag" in error(bad, 400, m.Error).details.additional_properties["fields"]
    shown = ok(product_retrieve.sync_detailed(str(ring.pk), client=shopper), m.Product)
    assert ("stone", "diamond") not in {(t.facet, t.value) for t in shown.tags}
    assert ("style", "vintage") in {(t.facet, t.value) for t in shown.tags}
    print(f"generated-client flows: {time.monotonic() - started:.1f} s")
