from django.contrib import admin

from jewel_vision.admin import ProductTagInline

from .models import Item, ItemPhoto


class ItemPhotoInline(admin.TabularInline):
    model = ItemPhoto
    extra = 1


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("title", "ref", "price", "quantity", "published")
    inlines = [ItemPhotoInline, ProductTagInline]
