"""Throttles with rates from ``JEWEL_VISION['API_THROTTLE_RATES']`` (no project setting needed).

Who a request comes from: the signed-in user, else the client address, which is
``REMOTE_ADDR`` unless ``JEWEL_VISION['NUM_PROXIES']`` trusted proxies stand in
front (then the address the outermost of them saw, from ``X-Forwarded-For``); a
client never chooses its own address. The counts live in the Django cache named by
``JEWEL_VISION['THROTTLE_CACHE']``, shared by every web process when it is Redis.
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from jewel_vision.conf import jv_settings


def client_address(request: Any) -> str:
    """The client's address, trusting ``X-Forwarded-For`` only behind ``NUM_PROXIES`` proxies.

    Each trusted proxy appends the address it received the request from, so with
    N proxies the client is the N-th entry from the right; entries further left
    were written by the client and are ignored.
    """
    meta = request.META
    remote = meta.get("REMOTE_ADDR") or ""
    proxies = int(jv_settings.NUM_PROXIES or 0)
    if proxies <= 0:
        return remote
    forwarded = [a.strip() for a in (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if a.strip()]
    if not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))][:100]


class _Configured:
    def __init__(self):
        from django.core.cache import caches

        self.cache = caches[jv_settings.THROTTLE_CACHE]  # before DRF reads the rate
        super().__init__()

    def get_rate(self):
        return jv_settings.API_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request):
        return client_address(request)


class AnonThrottle(_Configured, AnonRateThrottle):
    scope = "anon"


class UserThrottle(_Configured, UserRateThrottle):
    scope = "user"


class PhotoSearchThrottle(_Configured, SimpleRateThrottle):
    """Search by photo runs a neural network: a tighter budget per user or address.

    Also usable outside DRF (the demo shop's HTML search by photo): it only reads
    ``request.user`` and ``request.META``.
    """

    scope = "photo_search"

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
