"""One JSON shape for every API error.

    {"error": {"status": 413, "code": "file_too_large", "message": "file too large: ...", "details": {}}}

``details`` holds per-field messages for validation errors. Unexpected
exceptions are logged and answered with a 500 in the same shape (never an
HTML page), so API clients can always parse the body.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from jewel_vision.services.photos import PhotoRejected, PhotoSearchTimeout, PhotoSearchUnavailable, PhotoTooLarge

logger = logging.getLogger("jewel_vision.api")


def error_body(status_code: int, code: str, message: str, details: Any = None) -> dict:
    return {"error": {"status": status_code, "code": code, "message": message, "details": details or {}}}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "file_too_large"


class InvalidImage(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The upload is not an image we can read."
    default_code = "invalid_image"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "This service is temporarily unavailable."
    default_code = "unavailable"


class GatewayTimeout(exceptions.APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "The work behind this request took too long."
    default_code = "timeout"


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key == "non_field_errors" else f"{key}: {msg}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def _codes(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _codes(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_codes(v) for v in detail]
    return getattr(detail, "code", "invalid")


def exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, PhotoTooLarge):
        exc = PayloadTooLarge(str(exc))
    elif isinstance(exc, PhotoRejected):
        exc = InvalidImage(str(exc))
    elif isinstance(exc, PhotoSearchTimeout):
        exc = GatewayTimeout(str(exc))
    elif isinstance(exc, PhotoSearchUnavailable):
        exc = ServiceUnavailable(str(exc))
    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unexpected error in %s", context.get("view").__class__.__name__ if context.get("view") else "API")
        set_rollback()
        return Response(error_body(500, "server_error", "Something went wrong on our side."), status=500)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = "%d" % exc.wait
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        details = {"fields": detail if isinstance(detail, dict) else {"non_field_errors": detail}}
        body = error_body(exc.status_code, "invalid", _first_message(detail), details)
    else:
        code = getattr(detail, "code", None) or exc.default_code
        body = error_body(exc.status_code, str(code), _first_message(detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


@csrf_exempt
def not_found(request, *args: Any, **kwargs: Any) -> JsonResponse:
    """JSON 404 for URLs under the API prefix that match no endpoint."""
    return JsonResponse(error_body(404, "not_found", f"No API endpoint at {request.path}."), status=404)
