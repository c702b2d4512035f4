"""How the API describes itself in OpenAPI: every status an operation can answer, in the one error shape.

A generated client trusts the schema, so each operation lists the errors it can
really give (all in ``{"error": {...}}``):

* 401 on every operation: a wrong or expired ``Authorization: Token`` header is
  refused even where no authentication is needed; staff operations also answer
  401 without credentials;
* 403 on staff operations (a missing model permission) and on every POST (a
  session-authenticated request without its CSRF token);
* 400 where there are query parameters or a body; 404 where there is a path
  parameter or a ``page``; 413 and 415 where there is a body; 429 everywhere
  (throttles);
* 304 on GET, with no body, when ``If-None-Match`` names the current ``ETag``.

The view classes use :class:`JewelAutoSchema` themselves, so the schema is the
same whatever the project's ``DEFAULT_SCHEMA_CLASS``.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Callable

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.utils import extend_schema as spectacular_extend_schema

from jewel_vision.api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `details.fields` holds a list of messages per parameter.",
    401: "Not authenticated: no credentials where they are needed, or a wrong or expired token.",
    403: "Forbidden: a missing model permission, or a session request without its CSRF token.",
    404: "Not found (also a `page` past the last one).",
    413: "The upload or the image is too large.",
    415: "Unsupported media type of the request body.",
    429: "Too many requests: wait for `Retry-After` seconds.",
}

#: Response headers of a successful GET (conditional requests).
ETAG_HEADERS = {
    "ETag": {
        "description": "A validator of this response: send it back in `If-None-Match` to get a 304 when "
        "nothing changed.",
        "schema": {"type": "string"},
        "required": True,
    },
    "Cache-Control": {
        "description": "`private, no-cache`: store the response and revalidate it with `If-None-Match`.",
        "schema": {"type": "string"},
        "required": True,
    },
}


def error_statuses(operation: dict, method: str) -> list[int]:
    """The error statuses an operation can answer, from what it takes and who may call it."""
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    staff_only = {} not in (operation.get("security") or [{}])
    codes = {401, 429}
    if has_body or any(p.get("in") == "query" for p in params):
        codes.add(400)
    if staff_only or method.upper() == "POST":
        codes.add(403)
    if any(p.get("in") == "path" or p.get("name") == "page" for p in params):
        codes.add(404)
    if has_body:
        codes |= {413, 415}
    return sorted(codes)


class JewelAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the errors, the 304 and the cache headers of each operation."""

    def _insert_field_validators(self, field, schema):
        """drf-spectacular writes a blank-allowed string with a pattern as ``oneOf: [pattern, maxLength 0]``;
        where the pattern also accepts "" an empty value matches both, so ``oneOf`` fails on a value the
        server accepts. Such a field is its pattern alone; otherwise ``anyOf``, which means what was meant."""
        super()._insert_field_validators(field, schema)
        if schema.get("type") == "integer" and schema.get("maximum") == 2**63 - 1:
            # A model's IntegerField: its range comes from the database (SQLite 64 bits, PostgreSQL 32);
            # the schema says what every database holds, so it does not depend on where it is served from.
            schema["maximum"] = 2**31 - 1
            schema.pop("format", None)
        options = schema.get("oneOf")
        if isinstance(options, list) and len(options) == 2 and options[1] == {"type": "string", "maxLength": 0}:
            inner = options[0]
            pattern = inner.get("pattern")
            if pattern is not None and re.fullmatch(pattern, "") and not inner.get("minLength") and "format" not in inner:
                del schema["oneOf"]
                schema.update(inner)
            else:
                schema["anyOf"] = schema.pop("oneOf")

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return operation
        error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for code in error_statuses(operation, method):
            responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code]})
            responses[str(code)]["content"] = {"application/json": {"schema": error_ref}}
            responses[str(code)]["description"] = ERROR_DESCRIPTIONS[code]
        if method.upper() == "GET" and "200" in responses:
            responses["200"]["headers"] = {**ETAG_HEADERS, **responses["200"].get("headers", {})}
            responses["304"] = {"description": "Not modified: the response named by `If-None-Match` is still current."}
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def only_this_api(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: the Jewel Vision endpoints only, whatever else the project serves."""
    return [e for e in endpoints if getattr(getattr(e[3], "cls", None), "__module__", "").startswith("jewel_vision.api.")]


#: drf-spectacular settings of the API's own schema view, whatever the project's SPECTACULAR_SETTINGS:
#: the schema is a contract (``jewel_vision/api/schema/v1.yaml``), so the host project does not change it.
SCHEMA_SETTINGS = {
    "TITLE": "Jewel Vision API",
    "DESCRIPTION": "Products with their tags, similar items, complete the look, recommendations, search by photo "
    "and tag review for a jewelry shop. Every error has one shape: "
    '`{"error": {"status", "code", "message", "details"}}`. Successful GETs carry an `ETag`: send it back in '
    "`If-None-Match` to get a 304 when nothing changed.",
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["jewel_vision.api.openapi.only_this_api"],  # also leaves out the schema view itself
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
}


def generate_schema() -> dict:
    """The schema that ``/api/v1/schema/`` serves, as a dict (the project's URLconf decides the paths' prefix)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import patched_settings

    with patched_settings(SCHEMA_SETTINGS):
        return SchemaGenerator().get_schema(request=None, public=True)


#: The committed contract of ``/api/v1``: what the schema view serves, checked by tests/api/test_schema_contract.py.
COMMITTED_SCHEMA = Path(__file__).resolve().parent / "schema" / "v1.yaml"


def render_yaml(schema: dict) -> str:
    """The schema as the committed YAML (``manage.py jewel_vision_schema`` prints it)."""
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode()




def extend_schema(**kwargs: Any) -> Callable:
    """drf-spectacular's ``extend_schema``, built on :class:`JewelAutoSchema` in every project.

    On a view method, drf-spectacular subclasses the method's own ``schema`` attribute if it
    has one, else DRF's ``DEFAULT_SCHEMA_CLASS`` as it is when the module is imported: DRF's
    own AutoSchema in a shop without ``REST_FRAMEWORK`` settings, which drf-spectacular cannot
    use (the schema answered 500). Giving the method the class first keeps the contract the
    same whatever the shop's settings say.
    """
    decorate = spectacular_extend_schema(**kwargs)

    def decorator(f: Callable) -> Callable:
        if inspect.isfunction(f) and getattr(f, "schema", None) is None and "schema" not in getattr(f, "kwargs", {}):
            f.schema = JewelAutoSchema  # type: ignore[attr-defined]
        return decorate(f)

    return decorator
