from jewel_vision.models import ProductTag, display_threshold


def test_display_threshold_override_then_label_then_default(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6, "FACET_THRESHOLDS": {"stone": 0.7}}
    assert display_threshold("stone", 0.9) == 0.7  # the shop's override wins
    assert display_threshold("type", 0.9) == 0.9  # else the model's per-label threshold
    assert display_threshold("type", 0.4) == 0.4
    assert display_threshold("type") == display_threshold("type", None) == 0.6


def test_shown_follows_the_display_threshold_and_review(settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "DISPLAY_THRESHOLD": 0.6}
    assert ProductTag.shown(ProductTag.Review.SUGGESTED, 0.65, "type", None)
    assert not ProductTag.shown(ProductTag.Review.SUGGESTED, 0.65, "type", 0.8)
    assert ProductTag.shown(ProductTag.Review.ACCEPTED, 0.1, "type", 0.8)
    assert not ProductTag.shown(ProductTag.Review.REJECTED, 0.99, "type", None)
