from django.shortcuts import get_object_or_404, render

import jewel_vision

from .models import Item


def item_detail(request, pk):
    item = get_object_or_404(Item.objects.filter(published=True), pk=pk)
    return render(request, "catalog/item.html", {"item": item, "tags": jewel_vision.visible_tags(item)})
