from django.contrib import admin
from django.utils.html import format_html

from jewel_vision.admin import JewelProductAdminMixin, ProductTagInline
from shop.forms import ProductImageForm
from shop.models import Product, ProductImage


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm  # a photo that cannot be decoded is refused with a form error
    extra = 1
    fields = ("image", "position", "preview")
    readonly_fields = ("preview",)

    @admin.display(description="Preview")
    def preview(self, obj):
        return format_html('<img src="{}" style="height:60px">', obj.image.url) if obj.image else ""


@admin.register(Product)
class ProductAdmin(JewelProductAdminMixin, admin.ModelAdmin):
    # Jewel Vision adds the photo, tag badges, analysis state, facet filters, the photos with
    # their boxes and masks, and the actions re-analyse / accept all suggestions / clear suggestions.
    list_display = ("name", "sku", "price", "stock")
    search_fields = ("name", "sku")
    inlines = [ProductImageInline, ProductTagInline]


@admin.register(ProductImage)
class ProductImageAdmin(admin.ModelAdmin):
    form = ProductImageForm
    list_display = ("__str__", "product", "position")
    raw_id_fields = ("product",)
