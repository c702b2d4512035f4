from django.shortcuts import get_object_or_404, render

from jewel_vision import shortcuts

from .models import Item


def item_detail(request, pk):
    item = get_object_or_404(Item.objects.filter(published=True), pk=pk)
    return render(request, "catalog/item.html", {"item": item, "tags": shortcuts.visible_tags(item)})
