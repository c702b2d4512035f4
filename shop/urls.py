from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from shop import views


shop_patterns = [
    path("", views.product_list, name="list"),
    path("products/<int:pk>/", views.product_detail, name="product"),
    path("search/", views.text_search, name="search"),
    path("search/photo/", views.photo_search, name="photo-search"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("jewel_vision.api.urls")),
    path("", include((shop_patterns, "shop"))),
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
