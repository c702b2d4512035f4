"""The REST API for mobile apps and storefront scripts, under ``/api/v1/``.

Include it in the project's URLconf::

    path("api/v1/", include("jewel_vision.api.urls")),
"""
