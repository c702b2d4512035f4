"""The type head's card: a previous head is compared only on sources it never trained on."""

from __future__ import annotations

import copy

import pytest

from jewel_vision.training.model_card import render_type_card
from jewel_vision.vision.predictors.type_classifier import TypeClassifier


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: no Django here."""
    yield


@pytest.fixture(scope="module")
def meta() -> dict:
    head = TypeClassifier()
    meta = head.metadata
    loso = meta["leave_one_source_out"]
    # a "previous head" scored on pcjeweller: reuse this head's own figures as its numbers
    meta["baseline"] = {"head": "type@previous", "pcjeweller": copy.deepcopy(loso["pcjeweller"])}
    return meta


def _render(meta: dict) -> str:
    return render_type_card("v", "effnet-lite0@imagenet", meta, meta["leave_one_source_out"], 1024)


def test_previous_head_compared_on_a_source_it_never_saw(meta):
    meta = copy.deepcopy(meta)
    meta["baseline"]["trained_on"] = ["princesegzy01", "tanishq"]
    card = _render(meta)
    assert "| scored on | photos | before | now (source left out) |" in card
    assert "| pcjeweller (packshot) |" in card.split("| before |")[1]


def test_previous_head_not_compared_on_a_source_it_trained_on(meta):
    meta = copy.deepcopy(meta)
    meta["baseline"]["trained_on"] = ["pcjeweller", "princesegzy01"]
    card = _render(meta)
    assert "| before |" not in card
    assert "so it has no out-of-source figure" in card
