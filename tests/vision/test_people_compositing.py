"""Detector training crops from street photos: the people split, the cache, what each crop holds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jewel_vision.training.compositing import SampleConfig
from jewel_vision.training.people_compositing import (
    WORK_SIDE,
    MixedMaker,
    PeopleCache,
    PeopleSampleMaker,
    people_split,
)
from jewel_vision.training.type_sources import PP_JEWELRY, PP_SKIN, Person


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


def _person(tmp_path, name: str, bracelet: bool) -> Person:
    """A 300x450 street photo: a face and two arms of skin; a gold bracelet on one wrist when asked."""
    img = np.full((450, 300, 3), (90, 110, 130), np.uint8)
    lab = np.zeros((450, 300), np.uint8)
    lab[40:100, 120:180] = PP_SKIN  # face
    lab[130:260, 60:80] = PP_SKIN  # arms
    lab[130:250, 220:240] = PP_SKIN
    img[lab == PP_SKIN] = (220, 180, 150)
    if bracelet:
        lab[240:252, 58:82] = PP_JEWELRY["bracelet"]
        img[240:252, 58:82] = (230, 190, 60)
    Image.fromarray(img).save(tmp_path / f"{name}.jpg")
    Image.fromarray(lab).save(tmp_path / f"{name}.png")
    return Person(tmp_path / f"{name}.jpg", tmp_path / f"{name}.png", {"bracelet": 288 if bracelet else 0})


def test_people_split_is_stable_and_about_even():
    names = [f"person_{i}" for i in range(400)]
    split = [people_split(n) for n in names]
    assert split == [people_split(n) for n in names]
    assert 0.4 < split.count("test") / len(split) < 0.6


def test_cache_holds_the_photo_at_work_size_with_its_jewelry(tmp_path):
    cache = PeopleCache([_person(tmp_path, "a", True), _person(tmp_path, "b", False)])
    wearing, bare = cache.photos
    assert max(wearing.img.shape[:2]) == WORK_SIDE and wearing.mask.shape == wearing.img.shape[:2]
    assert len(wearing.instances) == 1 and bare.instances == []
    x0, y0, x1, y1 = wearing.instances[0]
    scale = WORK_SIDE / 450
    assert x0 == pytest.approx(58 * scale, abs=2) and y1 == pytest.approx(252 * scale, abs=2)
    assert bare.parts.face is not None and len(bare.parts.hands) == 2  # where pasted pieces go


def test_crops_hold_real_pasted_or_no_jewelry_as_their_kind_says(tmp_path):
    cache = PeopleCache([_person(tmp_path, "a", True), _person(tmp_path, "b", False)])
    cut = np.zeros((30, 30, 4), np.uint8)
    cut[5:25, 5:25] = (240, 200, 40, 255)
    cfg = SampleConfig(size=64)
    real = PeopleSampleMaker(cache, [cut], ["bracelet"], cfg, seed=1, p_hard=0.0, p_pasted=0.0, p_real=1.0)
    imgs, masks, heats = real.batch(8)
    assert imgs.shape == (8, 64, 64, 3) and all(m.sum() > 0 for m in masks)  # every crop shows the bracelet
    assert all(h.max() > 0.5 for h in heats)
    pasted = PeopleSampleMaker(cache, [cut], ["bracelet"], cfg, seed=2, p_hard=0.0, p_pasted=1.0, p_real=0.0)
    _, masks, _ = pasted.batch(8)
    assert sum(m.sum() > 0 for m in masks) >= 6  # on the bare person's wrist (a few land off the crop)
    hard = PeopleSampleMaker(cache, [cut], ["bracelet"], cfg, seed=3, p_hard=1.0, p_pasted=0.0, p_real=0.0,
                             hard_negatives={1: [(10.0, 10.0, 40.0, 40.0)]})
    _, masks, heats = hard.batch(4)
    assert all(m.sum() == 0 for m in masks) and all(h.max() == 0 for h in heats)  # a false find: nothing there


def test_mixed_maker_draws_from_each_maker_by_its_share():
    class Const:
        def __init__(self, v):
            self.v = v

        def sample(self):
            return np.full((4, 4, 3), self.v, np.uint8), np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32)

    imgs, _, _ = MixedMaker([Const(0), Const(1)], [0.25, 0.75], seed=0).batch(400)
    share = float((imgs[:, 0, 0, 0] == 1).mean())
    assert 0.68 < share < 0.82
