"""A person's accepted tag survives a re-analysis by the real pipeline."""

import pytest

from jewel_vision import shortcuts
from jewel_vision.services import review
from jewel_vision.models import Analysis, ProductTag
from jewel_vision.analysis.run import run_analysis

pytestmark = pytest.mark.django_db


def test_accepted_tag_survives_reanalysis(make_product, add_photo, monkeypatch, django_capture_on_commit_callbacks):
    import jewel_vision.analysis.start as analyses

    monkeypatch.setattr(analyses, "enqueue", lambda pk: True)  # run in-process below instead
    product = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        image = add_photo(product, kind="ring", seed=4)
    analysis = Analysis.objects.get(image_id=str(image.pk))
    assert run_analysis(analysis.pk) == "done"
    model_types = ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type")
    assert model_types.count() == 1

    person_tag = review.add(product, "type:brooch")
    with django_capture_on_commit_callbacks(execute=True):
        shortcuts.analyze(image, force=True)
    assert run_analysis(analysis.pk) == "done"

    person_tag.refresh_from_db()
    assert person_tag.review_state == ProductTag.Review.ACCEPTED
    assert person_tag.source == ProductTag.Source.PERSON
    assert list(
        ProductTag.objects.filter(product_id=str(product.pk), tag__facet="type").values_list("tag__value", flat=True)
    ) == ["brooch"]
