"""``/api/v1/`` endpoints, the OpenAPI schema and its docs page.

    path("api/v1/", include("jewel_vision.api.urls")),
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from jewel_vision.api import views
from jewel_vision.api.errors import not_found
from jewel_vision.api.openapi import SCHEMA_SETTINGS

app_name = "jewel_vision_api"

urlpatterns = [
    path("products/", views.ProductListView.as_view(), name="products"),
    path("products/<str:pk>/", views.ProductDetailView.as_view(), name="product"),
    path("products/<str:pk>/similar/", views.SimilarView.as_view(), name="similar"),
    path("products/<str:pk>/complete-the-look/", views.CompleteTheLookView.as_view(), name="complete-the-look"),
    path("products/<str:pk>/tags/", views.ProductTagsView.as_view(), name="product-tags"),
    path("product-tags/<int:tag_id>/accept/", views.AcceptTagView.as_view(), name="tag-accept"),
    path("product-tags/<int:tag_id>/reject/", views.RejectTagView.as_view(), name="tag-reject"),
    path("recommendations/", views.RecommendationsView.as_view(), name="recommendations"),
    path("search/", views.TextSearchView.as_view(), name="search"),
    path("search/photo/", views.PhotoSearchView.as_view(), name="photo-search"),
    path("facets/", views.FacetsView.as_view(), name="facets"),
    path("images/<str:image_id>/analysis/", views.ImageAnalysisView.as_view(), name="image-analysis"),
    path("schema/", SpectacularAPIView.as_view(custom_settings=SCHEMA_SETTINGS), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="jewel_vision_api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="jewel_vision_api:schema"), name="redoc"),
    re_path(r"^.*$", not_found),
]
