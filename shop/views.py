from django.contrib.contenttypes.models import ContentType
from django.shortcuts import get_object_or_404, render

from jewel_vision.conf import jv_settings
from jewel_vision.models import ProductTag
from shop.models import Product


def visible_tags(product: Product) -> list[ProductTag]:
    tags = ProductTag.objects.filter(
        product_type=ContentType.objects.get_for_model(Product), product_id=str(product.pk)
    ).select_related("tag")
    return [t for t in tags if t.is_visible(jv_settings.threshold_for(t.tag.facet))]


def product_list(request):
    products = Product.objects.prefetch_related("images")
    return render(request, "shop/product_list.html", {"products": products})


def product_detail(request, pk: int):
    product = get_object_or_404(Product.objects.prefetch_related("images"), pk=pk)
    return render(request, "shop/product_detail.html", {"product": product, "tags": visible_tags(product)})
