"""Throttles with rates from ``JEWEL_VISION['API_THROTTLE_RATES']`` (no project setting needed)."""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from jewel_vision.conf import jv_settings


class _Configured:
    def get_rate(self):
        return jv_settings.API_THROTTLE_RATES.get(self.scope)


class AnonThrottle(_Configured, AnonRateThrottle):
    scope = "anon"


class UserThrottle(_Configured, UserRateThrottle):
    scope = "user"


class PhotoSearchThrottle(_Configured, SimpleRateThrottle):
    """Search by photo runs a neural network: a tighter budget per user or address."""

    scope = "photo_search"

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
