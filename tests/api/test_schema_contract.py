"""``/api/v1`` stays compatible: the served schema is the committed one, and never breaks it.

After a change that only adds (a new optional field or parameter, a new endpoint), regenerate:

    DJANGO_DEBUG=1 python manage.py jewel_vision_schema > jewel_vision/api/schema/v1.yaml

A breaking change (a removed field, a changed type, a new required parameter...) needs ``/api/v2``.
"""

import copy

import pytest
import yaml

from jewel_vision.api.openapi import COMMITTED_SCHEMA
from tests.api.schema_compat import breaking_changes

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed():
    return yaml.safe_load(COMMITTED_SCHEMA.read_text())


@pytest.fixture
def served(client):
    r = client.get("/api/v1/schema/", {"format": "json"})
    assert r.status_code == 200
    return r.json()


def test_the_served_schema_does_not_break_the_committed_one(committed, served):
    assert breaking_changes(committed, served) == []


def test_the_served_schema_is_the_committed_one(committed, served):
    assert served == committed, "the schema changed without breaking /api/v1: regenerate v1.yaml (see this module)"


def test_breaking_changes_are_found(committed):
    def changed(edit):
        new = copy.deepcopy(committed)
        edit(new)
        return breaking_changes(committed, new)

    schemas = lambda s: s["components"]["schemas"]  # noqa: E731
    products = lambda s: s["paths"]["/api/v1/products/"]["get"]  # noqa: E731
    assert changed(lambda s: None) == []
    # A removed response field, a changed type, a field that may now be missing or null.
    assert any("title: removed" in p for p in changed(lambda s: schemas(s)["Product"]["properties"].pop("title")))
    assert any("type 'integer' -> 'string'" in p
               for p in changed(lambda s: schemas(s)["ProductPage"]["properties"]["count"].update(type="string")))
    assert any("no longer always present" in p
               for p in changed(lambda s: schemas(s)["ProductPage"]["required"].remove("count")))
    assert any("may now be null" in p
               for p in changed(lambda s: schemas(s)["Product"]["properties"]["title"].update(nullable=True)))
    assert any("new enum values" in p for p in changed(
        lambda s: schemas(s)["Card"]["properties"]["reason"].setdefault("enum", []).append("surprise")
        if "enum" in schemas(s)["Card"]["properties"]["reason"]
        else schemas(s)[schemas(s)["Card"]["properties"]["reason"]["$ref"].rsplit("/", 1)[-1]]["enum"].append("surprise")))
    # A new required parameter, an optional one made required, a tighter bound, a removed operation.
    assert any("new required parameter sort" in p for p in changed(lambda s: products(s)["parameters"].append(
        {"in": "query", "name": "sort", "required": True, "schema": {"type": "string"}})))
    assert any("newly required" in p for p in changed(lambda s: products(s)["parameters"][0].update(required=True)))
    assert any("maximum" in p for p in changed(lambda s: next(
        p for p in products(s)["parameters"] if p["name"] == "page_size")["schema"].update(maximum=50)))
    assert any("removed" in p for p in changed(lambda s: s["paths"].pop("/api/v1/facets/")))
    assert any("newly required" in p for p in changed(lambda s: schemas(s)["PhotoSearchRequestRequest"]["required"].append("box")))
    # Additions are not breaking.
    assert changed(lambda s: schemas(s)["Product"]["properties"].update(extra={"type": "string"})) == []
    assert changed(lambda s: products(s)["parameters"].append(
        {"in": "query", "name": "sort", "schema": {"type": "string"}})) == []


def test_conditional_get_with_etag(client, catalog):
    ring = catalog("ring", "gold", 1)
    for url in ("/api/v1/products/", f"/api/v1/products/{ring.pk}/", "/api/v1/facets/", "/api/v1/search/?q=gold",
                f"/api/v1/products/{ring.pk}/similar/"):
        first = client.get(url)
        etag = first["ETag"]
        assert first.status_code == 200 and etag.startswith('"') and first["Cache-Control"] == "private, no-cache"
        assert "Authorization" in first["Vary"] and "Cookie" in first["Vary"]
        again = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag, url
        assert client.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200
    # A change to what the response holds changes its ETag.
    before = client.get("/api/v1/products/")["ETag"]
    catalog("necklace", "silver", 2)
    assert client.get("/api/v1/products/", HTTP_IF_NONE_MATCH=before).status_code == 200
    # Errors and writes carry none.
    assert not client.get("/api/v1/products/999999/").has_header("ETag")
