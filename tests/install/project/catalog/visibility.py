def published(queryset):
    """What shoppers may see: JEWEL_VISION["SHOPPER_QUERYSET"] points here."""
    return queryset.filter(published=True)
