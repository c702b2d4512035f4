from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from catalog import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("api/v1/", include("jewel_vision.api.urls")),
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
