"""A shop teaches the pipeline a facet (style) by example, from staff-reviewed tags."""

import random

import pytest
from PIL import Image, ImageDraw

from jewel_vision.services import review
from jewel_vision.models import Analysis, ProductTag
from jewel_vision.analysis.run import run_analysis
from jewel_vision.analysis import heads
from jewel_vision.services.teaching import TeachingError, _head_class, train_facet

pytestmark = pytest.mark.django_db


def minimalist(seed: int) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", (256, 256), (250, 250, 250))
    r = rng.randint(50, 80)
    ImageDraw.Draw(img).ellipse((128 - r, 128 - r, 128 + r, 128 + r), outline=(200, 200, 205), width=4)
    return img


def ornate(seed: int) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", (256, 256), (30, 20, 40))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y, s = rng.randint(20, 230), rng.randint(20, 230), rng.randint(6, 18)
        d.ellipse((x - s, y - s, x + s, y + s), fill=(rng.randint(150, 255), rng.randint(0, 90), rng.randint(0, 200)), outline=(212, 175, 55), width=3)
    return img


@pytest.fixture
def heads_dir(tmp_path, settings):
    settings.JEWEL_VISION = {"IMAGE_MODEL": "shop.ProductImage", "PIPELINE": {"facet_heads_dir": str(tmp_path / "heads")}}
    return tmp_path / "heads"


def _analysed_product(make_product, add_photo, picture, seed, django_capture_on_commit_callbacks):
    import io

    product = make_product()
    buf = io.BytesIO()
    picture(seed).save(buf, "PNG")
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(product, data=buf.getvalue(), name=f"{seed}.png")
    run_analysis(Analysis.objects.get(image_id=str(image.pk)).pk)
    return product


def test_style_is_learned_from_reviewed_products(heads_dir, make_product, add_photo, monkeypatch, django_capture_on_commit_callbacks):
    import jewel_vision.analysis.start as analyses

    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)
    for seed in range(4):
        review.add(_analysed_product(make_product, add_photo, minimalist, seed, django_capture_on_commit_callbacks), "style:minimalist")
        review.add(_analysed_product(make_product, add_photo, ornate, seed, django_capture_on_commit_callbacks), "style:luxury")

    report = train_facet("style")
    assert report["classes"] == ["luxury", "minimalist"]
    assert report["cv_accuracy"] >= 0.75
    assert (heads_dir / "style.npz").is_file()

    # A new, unlabelled product gets a style suggestion from the taught head.
    product = _analysed_product(make_product, add_photo, ornate, 99, django_capture_on_commit_callbacks)
    style = ProductTag.objects.get(product_id=str(product.pk), tag__facet="style")
    assert style.tag.value == "luxury"
    assert style.source == ProductTag.Source.MODEL and style.source_detail.startswith("facet-style@")


def test_too_few_examples_is_a_clear_error(heads_dir, make_product):
    review.add(make_product(), "style:vintage")
    with pytest.raises(TeachingError, match="at least 3 analysed products for each of at least 2 values"):
        train_facet("style")


def test_builtin_facets_cannot_be_taught(heads_dir):
    with pytest.raises(TeachingError, match="built-in model"):
        train_facet("metal_tone")


def test_the_type_head_adapts_to_the_types_staff_gave(heads_dir, make_product, add_photo, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    """Staff say what the built-in head gets wrong on this shop's photos; the adapted head says it
    too, on products it was not adapted on, and the pipeline uses it for new photos."""
    import jewel_vision.analysis.start as analyses

    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)
    for seed in range(4):
        heads.label(_analysed_product(make_product, add_photo, minimalist, seed, django_capture_on_commit_callbacks).pk,
                    "type", "watch")
        heads.label(_analysed_product(make_product, add_photo, ornate, seed, django_capture_on_commit_callbacks).pk,
                    "type", "necklace")

    report = train_facet("type")
    assert report["adapted_from"].startswith("type@") and report["classes"] == ["necklace", "watch"]
    assert report["cv_accuracy"] >= 0.75 > report["cv_accuracy_builtin"]
    assert (heads_dir / "type.npz").is_file() and not (heads_dir / "type").exists()

    product = _analysed_product(make_product, add_photo, minimalist, 99, django_capture_on_commit_callbacks)
    shown = ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type").order_by("-confidence").first()
    assert shown.tag.value == "watch" and shown.source == ProductTag.Source.MODEL
    assert shown.source_detail == f"type@{report['version']}"


def test_adapting_the_type_head_needs_reviewed_types_it_knows(heads_dir, make_product, add_photo, settings, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    import jewel_vision.analysis.start as analyses

    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)
    settings.JEWEL_VISION = {**settings.JEWEL_VISION, "PIPELINE": {**settings.JEWEL_VISION["PIPELINE"],
                                                                   "type_labels": {"bracelet": "bangle"}}}
    for seed, value in ((1, "brooch"), (2, "bangle")):
        product = _analysed_product(make_product, add_photo, minimalist, seed, django_capture_on_commit_callbacks)
        heads.label(product.pk, "type", value)
    with pytest.raises(TeachingError, match=r"at least 2 types \(have bracelet: 1\); the head has no type for brooch"):
        train_facet("type")


def test_a_shops_type_label_maps_back_to_the_heads_class():
    classes = ["bracelet", "earring", "necklace", "ring", "watch", "none"]
    assert _head_class("ring", classes, {}) == "ring"
    assert _head_class("bangle", classes, {"bracelet": "bangle", "watch": "bangle"}) == "bracelet"
    assert _head_class("brooch", classes, {}) is None


def test_adapting_needs_more_than_copies_of_one_photo(heads_dir, make_product, add_photo, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    """Three products of a type showing the same photo are one example: held out together, never split."""
    import jewel_vision.analysis.start as analyses

    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)
    for seed in range(3):
        heads.label(_analysed_product(make_product, add_photo, minimalist, 7, django_capture_on_commit_callbacks).pk,
                    "type", "watch")
        heads.label(_analysed_product(make_product, add_photo, ornate, seed, django_capture_on_commit_callbacks).pk,
                    "type", "necklace")
    with pytest.raises(TeachingError, match="all copies of one photo"):
        train_facet("type")
