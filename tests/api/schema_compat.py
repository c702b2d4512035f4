"""Breaking changes between two OpenAPI schemas of the same API version.

What a client generated from ``old`` relies on, and ``new`` must keep:

* every operation (path and method) and its success responses;
* parameters: none removed, none newly required, none of another type, format or location;
  no new or changed ``pattern``, no tighter bounds or length;
* request bodies: no new required property, no property removed or of another type;
* response bodies: no property removed, no property that was always there becoming optional,
  nothing becoming nullable, no changed type or format, no enum value added (a client's enum
  cannot parse it);
* the error statuses an operation documents (a client switches on them).
"""

from __future__ import annotations

from typing import Any

SUCCESS = ("200", "201", "204")


def _resolve(schema: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _json_schema(operation_part: dict | None) -> dict | None:
    content = (operation_part or {}).get("content") or {}
    for media in ("application/json", "multipart/form-data", "application/x-www-form-urlencoded"):
        if media in content:
            return content[media].get("schema")
    return None


def _compare_values(where: str, old: dict, new: dict, *, response: bool, problems: list[str]) -> None:
    """One value's schema: type, format, nullability, enum, bounds."""
    for key in ("type", "format"):
        if old.get(key) != new.get(key):
            problems.append(f"{where}: {key} {old.get(key)!r} -> {new.get(key)!r}")
    if response:
        if new.get("nullable") and not old.get("nullable"):
            problems.append(f"{where}: may now be null")
        if "enum" in old and set(new.get("enum", old["enum"])) - set(old["enum"]):
            problems.append(f"{where}: new enum values {sorted(set(new['enum']) - set(old['enum']), key=str)}")
    else:
        if old.get("nullable") and not new.get("nullable"):
            problems.append(f"{where}: no longer accepts null")
        if "enum" in new and set(old.get("enum", ())) - set(new["enum"]):
            problems.append(f"{where}: enum values removed")
        if old.get("pattern") != new.get("pattern") and new.get("pattern"):
            problems.append(f"{where}: pattern {old.get('pattern')!r} -> {new.get('pattern')!r}")
        for key, tighter in (("minimum", max), ("minLength", max), ("minItems", max),
                             ("maximum", min), ("maxLength", min), ("maxItems", min)):
            if key in new and (key not in old or tighter(old[key], new[key]) != old[key]):
                problems.append(f"{where}: {key} {old.get(key)!r} -> {new[key]!r}")


def _compare_schemas(where: str, old_root: dict, old: Any, new_root: dict, new: Any, *, response: bool,
                     problems: list[str], seen: set) -> None:
    old, new = _resolve(old_root, old), _resolve(new_root, new)
    if not isinstance(old, dict) or not isinstance(new, dict):
        return
    key = (where, id(old), id(new))
    if key in seen:
        return
    seen.add(key)
    _compare_values(where, old, new, response=response, problems=problems)
    if old.get("type") == "array" or "items" in old:
        _compare_schemas(f"{where}[]", old_root, old.get("items"), new_root, new.get("items"), response=response,
                         problems=problems, seen=seen)
    if isinstance(old.get("additionalProperties"), dict) and isinstance(new.get("additionalProperties"), dict):
        _compare_schemas(f"{where}{{}}", old_root, old["additionalProperties"], new_root,
                         new["additionalProperties"], response=response, problems=problems, seen=seen)
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
    for name, sub in old_props.items():
        if name not in new_props:
            problems.append(f"{where}.{name}: removed")
            continue
        if response and name in old_req and name not in new_req:
            problems.append(f"{where}.{name}: no longer always present")
        _compare_schemas(f"{where}.{name}", old_root, sub, new_root, new_props[name], response=response,
                         problems=problems, seen=seen)
    if not response:
        for name in sorted(new_req - old_req):
            problems.append(f"{where}.{name}: newly required")


def breaking_changes(old: dict, new: dict) -> list[str]:
    """What in ``new`` breaks a client generated from ``old`` (an empty list: nothing)."""
    problems: list[str] = []
    seen: set = set()
    for path, old_ops in old.get("paths", {}).items():
        for method, old_op in old_ops.items():
            if method not in ("get", "post", "put", "patch", "delete", "head", "options"):
                continue
            label = f"{method.upper()} {path}"
            new_op = new.get("paths", {}).get(path, {}).get(method)
            if new_op is None:
                problems.append(f"{label}: removed")
                continue
            if old_op.get("operationId") != new_op.get("operationId"):
                problems.append(f"{label}: operationId {old_op.get('operationId')!r} -> {new_op.get('operationId')!r}")
            # Parameters.
            old_params = {(p["in"], p["name"]): p for p in old_op.get("parameters", [])}
            new_params = {(p["in"], p["name"]): p for p in new_op.get("parameters", [])}
            for key, p in old_params.items():
                if key not in new_params:
                    problems.append(f"{label}: parameter {key[1]} ({key[0]}) removed")
                    continue
                q = new_params[key]
                if q.get("required") and not p.get("required"):
                    problems.append(f"{label}: parameter {key[1]} newly required")
                _compare_schemas(f"{label} parameter {key[1]}", old, p.get("schema"), new, q.get("schema"),
                                 response=False, problems=problems, seen=seen)
            for key, q in new_params.items():
                if key not in old_params and q.get("required"):
                    problems.append(f"{label}: new required parameter {key[1]} ({key[0]})")
            # Request body.
            old_body, new_body = old_op.get("requestBody"), new_op.get("requestBody")
            if new_body and new_body.get("required") and not (old_body or {}).get("required"):
                problems.append(f"{label}: request body newly required")
            if old_body and new_body:
                old_media, new_media = set(old_body.get("content", {})), set(new_body.get("content", {}))
                if old_media - new_media:
                    problems.append(f"{label}: request media types removed {sorted(old_media - new_media)}")
                _compare_schemas(f"{label} body", old, _json_schema(old_body), new, _json_schema(new_body),
                                 response=False, problems=problems, seen=seen)
            # Responses.
            old_resp, new_resp = old_op.get("responses", {}), new_op.get("responses", {})
            for status, r in old_resp.items():
                if status not in new_resp:
                    problems.append(f"{label}: response {status} removed")
                    continue
                _compare_schemas(f"{label} -> {status}", old, _json_schema(r), new, _json_schema(new_resp[status]),
                                 response=True, problems=problems, seen=seen)
            for status in new_resp:
                if status in SUCCESS and status not in old_resp:
                    problems.append(f"{label}: new success status {status}")
    return problems
