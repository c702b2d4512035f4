"""Samples for the type head: where worn pieces go, composites, splits by source and group."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jewel_vision.training import type_sources
from jewel_vision.training.train_type import CLASSES, RECIPES, SOURCES, recipe_key, row_weights, split_samples
from jewel_vision.training.type_sources import (
    PP_SKIN,
    PackshotGeometry,
    Sample,
    augment_sample,
    body_parts,
    flatten,
    paste,
    photometric,
    swap_background,
    zoom_out,
)

from ._images import draw_ring


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


def _person_labels(with_leg: bool = True) -> np.ndarray:
    """A 400x300 label map: a face at the top, two arms ending in hands, and a bare leg low down."""
    lab = np.zeros((400, 300), np.uint8)
    lab[30:90, 120:170] = PP_SKIN  # face
    lab[120:230, 60:80] = PP_SKIN  # left arm, hand at y ~229
    lab[120:220, 220:240] = PP_SKIN  # right arm
    if with_leg:
        lab[300:390, 130:150] = PP_SKIN  # a leg below the knees: not a hand
    return lab


def test_body_parts_find_face_and_hands_not_legs():
    parts = body_parts(_person_labels())
    x0, y0, x1, y1 = parts.face
    assert (x0, y0, x1) == (120, 30, 170) and 85 <= y1 <= 95
    ends = sorted((x, y) for x, y, _ in parts.hands)
    assert len(ends) == 2
    assert 60 <= ends[0][0] < 80 and ends[0][1] == 229
    assert 220 <= ends[1][0] < 240 and ends[1][1] == 219
    for _, _, angle in parts.hands:  # the arms point down
        assert 0.5 < angle < 2.6


def test_body_parts_of_an_empty_map():
    parts = body_parts(np.zeros((50, 40), np.uint8))
    assert parts.face is None and parts.hands == ()


def test_paste_returns_the_box_of_the_visible_piece():
    host = Image.new("RGB", (300, 400), (90, 120, 150))
    rgba = np.zeros((60, 40, 4), np.uint8)
    rgba[10:50, 5:35] = (230, 190, 60, 255)
    out, box = paste(host, rgba, 150, 200, 80, np.random.default_rng(3))
    diff = np.abs(np.asarray(out, np.int16) - np.asarray(host, np.int16)).sum(-1) > 30
    ys, xs = np.nonzero(diff)
    truth = (xs.min() / 300, ys.min() / 400, (xs.max() + 1) / 300, (ys.max() + 1) / 400)
    assert np.allclose(box, truth, atol=0.02)
    assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
    assert np.asarray(host).mean() == pytest.approx(np.asarray(Image.new("RGB", (1, 1), (90, 120, 150))).mean())


def test_background_swap_keeps_the_piece_and_changes_the_background():
    ring = draw_ring(size=(240, 180))
    out = swap_background(ring, np.random.default_rng(0))
    assert out.size == ring.size
    corner_before, corner_after = np.asarray(ring)[2, 2], np.asarray(out)[2, 2]
    assert tuple(corner_before) == (255, 255, 255) and tuple(corner_after) != (255, 255, 255)
    gold = np.all(np.abs(np.asarray(out, np.int16) - (212, 175, 55)) < 30, axis=-1)
    assert gold.sum() > 0.5 * np.all(np.abs(np.asarray(ring, np.int16) - (212, 175, 55)) < 30, axis=-1).sum()


def test_zoom_out_shows_the_whole_piece_smaller_on_its_own_background():
    ring = draw_ring(size=(240, 180))
    gold = lambda img: np.all(np.abs(np.asarray(img, np.int16) - (212, 175, 55)) < 30, axis=-1)
    for seed in range(5):
        out = zoom_out(ring, np.random.default_rng(seed))
        assert out.size[0] >= ring.size[0] and out.size[1] >= ring.size[1]
        assert out.size[0] * out.size[1] >= 1.4 * ring.size[0] * ring.size[1]  # >= 1.2x a side
        assert gold(out).sum() == gold(ring).sum()  # every pixel of the piece, none cut off
        assert tuple(np.asarray(out)[0, 0]) == (255, 255, 255)  # the padding is the photo's white


@pytest.mark.parametrize("name", ["zoom_out", "flatten"])
def test_packshot_geometry_is_off_unless_asked_and_keys_its_own_cache(monkeypatch, name):
    calls = []
    real = getattr(type_sources, name)
    monkeypatch.setattr(type_sources, name, lambda img, rng: calls.append(1) or real(img, rng))
    ring = draw_ring(size=(240, 180))
    packshot = Sample("k", "ring", ("princesegzy01",), "g", "packshot", lambda rng: ring)
    worn = Sample("w", "ring", ("ring-hands",), "h", "worn", lambda rng: ring)
    on = PackshotGeometry(**{name: 1.0})
    for seed in range(10):
        augment_sample(packshot, ring, np.random.default_rng(seed))
        augment_sample(worn, ring, np.random.default_rng(seed), on)
    assert calls == []  # the shipped recipe: no extra geometry, and never on worn views
    for seed in range(10):
        augment_sample(packshot, ring, np.random.default_rng(seed), on)
    assert len(calls) == 10
    assert recipe_key("packshot") == RECIPES["packshot"]
    assert recipe_key("packshot", on) != recipe_key("packshot") and recipe_key("worn", on) == RECIPES["worn"]
    both = PackshotGeometry(zoom_out=0.5, flatten=0.5)
    assert len({recipe_key("packshot", g) for g in (on, both, PackshotGeometry(zoom_out=0.5))}) == 3


def test_packshot_geometry_refuses_what_is_not_a_probability():
    with pytest.raises(ValueError, match="flatten"):
        PackshotGeometry(flatten=1.5)
    with pytest.raises(ValueError, match="zoom_out"):
        PackshotGeometry(zoom_out=-0.1)


def test_flatten_squashes_the_piece_vertically_on_its_own_background():
    ring = draw_ring(size=(240, 180))
    gold = lambda img: np.all(np.abs(np.asarray(img, np.int16) - (212, 175, 55)) < 30, axis=-1)
    rows_before = np.flatnonzero(gold(ring).any(1))
    cols_before = np.flatnonzero(gold(ring).any(0))
    for seed in range(5):
        out = flatten(ring, np.random.default_rng(seed))
        assert out.size == ring.size
        rows, cols = np.flatnonzero(gold(out).any(1)), np.flatnonzero(gold(out).any(0))
        height, height_before = rows[-1] - rows[0], rows_before[-1] - rows_before[0]
        assert 0.4 * height_before <= height <= 0.88 * height_before  # 0.45-0.85x, give or take a pixel
        assert abs((cols[-1] - cols[0]) - (cols_before[-1] - cols_before[0])) <= 2  # as wide as before
        assert tuple(np.asarray(out)[0, 0]) == (255, 255, 255)  # the padding is the photo's white


def test_photometric_changes_colour_cast_deterministically():
    img = Image.new("RGB", (64, 64), (128, 128, 128))
    a = photometric(img, np.random.default_rng([1, 2]))
    b = photometric(img, np.random.default_rng([1, 2]))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    casts = [np.asarray(photometric(img, np.random.default_rng(s)), np.float32).mean((0, 1)) for s in range(20)]
    red_minus_blue = [c[0] - c[2] for c in casts]
    assert min(red_minus_blue) < -5 and max(red_minus_blue) > 5  # cool and warm light both occur


def _sample(key, label, source, group, kind="packshot", sources=None):
    return Sample(key, label, sources or (source,), group, kind, lambda rng: None)


def test_splits_keep_groups_and_composites_follow_their_piece():
    samples = []
    for i in range(60):
        label = ["ring", "earring", "bracelet"][i % 3]
        samples.append(_sample(f"jt:{i}", label, "princesegzy01", f"jt:g{i // 2}"))
    for i in range(30):
        samples.append(_sample(f"comp:{i}", "ring", "princesegzy01", f"comp:jt:g{i}", "composite",
                               ("princesegzy01", "people-parsing")))
    groups = [s.group for s in samples]
    split = split_samples(samples, groups, seed=0)
    by_group: dict[str, set[str]] = {}
    for s, sp in zip(samples[:60], split[:60]):
        by_group.setdefault(s.group, set()).add(sp)
    assert all(len(v) == 1 for v in by_group.values())
    assert {"train", "val", "test"} <= set(split[:60])
    piece_split = {s.group.partition(":")[2]: sp for s, sp in zip(samples[:60], split[:60])}
    for s, sp in zip(samples[60:], split[60:]):
        expected = "train" if piece_split.get(s.group.removeprefix("comp:").partition(":")[2]) == "train" else "unused"
        assert sp == expected
    assert "train" in split[60:] and "unused" in split[60:]


def test_row_weights_balance_source_and_class_cells():
    cells = [("a", "ring")] * 90 + [("a", "earring")] * 10 + [("b", "ring")] * 5
    w = row_weights(cells)
    assert w.mean() == pytest.approx(1.0)
    totals = {c: w[[i for i, x in enumerate(cells) if x == c]].sum() for c in set(cells)}
    assert max(totals.values()) == pytest.approx(min(totals.values()))


def test_classes_and_sources():
    assert CLASSES[-1] == "none" and "ring" in CLASSES
    assert set(SOURCES) == {"princesegzy01", "tanishq", "pcjeweller", "ring-hands", "people-parsing"}


def _hand_photo(side: str = "top") -> Image.Image:
    """A 400x300 photo: a skin-coloured arm (60 px wide) entering from ``side`` onto white,
    ending in a wider palm, as ring-hands shows hands."""
    arr = np.full((300, 400, 3), 250, np.uint8)
    skin = (215, 170, 140)
    arr[0:120, 170:230] = skin  # the arm, entering at the top between x = 170 and 230
    arr[120:230, 140:260] = skin  # the hand
    img = Image.fromarray(arr)
    return {"top": img, "bottom": img.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
            "left": img.transpose(Image.Transpose.TRANSPOSE)}[side]


@pytest.mark.parametrize("side, angle", [("top", np.pi / 2), ("bottom", -np.pi / 2), ("left", 0.0)])
def test_find_wrist_is_where_the_arm_enters_and_points_into_the_photo(side, angle):
    wrist = type_sources.find_wrist(_hand_photo(side))
    assert wrist is not None
    along = wrist.x if side in ("top", "bottom") else wrist.y
    assert along == pytest.approx(200, abs=6)
    assert wrist.width == pytest.approx(60, abs=8)
    assert abs(np.angle(np.exp(1j * (wrist.angle - angle)))) < 0.35


def test_find_wrist_refuses_a_photo_with_no_arm():
    assert type_sources.find_wrist(Image.new("RGB", (400, 300), (250, 250, 250))) is None
    floating = np.full((300, 400, 3), 250, np.uint8)
    floating[100:200, 150:250] = (215, 170, 140)  # a blob touching no border
    assert type_sources.find_wrist(Image.fromarray(floating)) is None


def test_a_bracelet_on_a_wrist_lies_across_the_arm():
    band = np.zeros((40, 120, 4), np.uint8)  # a band wider than tall: its long axis is x
    band[15:25, :] = (230, 190, 60, 255)
    wrist = type_sources.Wrist(x=200, y=0, angle=np.pi / 2, width=60)  # the arm comes down from the top
    turned, (cx, cy, long_side) = type_sources._on_wrist(band, "bracelet", wrist, np.random.default_rng(0))
    ys, xs = np.nonzero(turned[..., 3] > 64)
    assert np.ptp(xs) > 2 * np.ptp(ys)  # across a vertical arm: horizontal
    assert cx == pytest.approx(200, abs=1) and -5 <= cy <= 0.3 * 60 + 1
    assert 0.9 * 60 <= long_side <= 1.4 * 60
    wrist = type_sources.Wrist(x=0, y=150, angle=0.0, width=60)  # the arm comes in from the left
    turned, _ = type_sources._on_wrist(band, "bracelet", wrist, np.random.default_rng(0))
    ys, xs = np.nonzero(turned[..., 3] > 64)
    assert np.ptp(ys) > 2 * np.ptp(xs)  # across a horizontal arm: vertical


def test_hand_composites_are_bracelets_on_ring_hands_hosts(tmp_path):
    from jewel_vision.training.data import RingRow

    photo = tmp_path / "Hand_0000001.jpg"
    _hand_photo().save(photo)
    piece = tmp_path / "bracelet.png"
    ring = draw_ring(size=(240, 180))
    ring.save(piece)
    host = RingRow(str(photo), "", 1, [(0.4, 0.5, 0.5, 0.6)], "ring", 400, 300, session=7)
    cut = type_sources.Cutout("jt:b.png", "bracelet", "princesegzy01", "jt:g1", piece)
    earring = type_sources.Cutout("jt:e.png", "earring", "princesegzy01", "jt:g2", piece)
    samples = type_sources.hand_composite_samples([cut, earring], [host], 4, seed=0)
    assert [s.label for s in samples] == ["bracelet"] * 4  # earrings are not worn on wrists
    s = samples[0]
    assert s.kind == "composite" and s.sources == ("princesegzy01", "ring-hands")
    assert s.group == "comp:jt:g1" and s.host == "rh:7"
    view = np.asarray(s.make(np.random.default_rng(0)).convert("RGB"), np.int16)
    assert view.shape[0] < 300  # a crop around the pasted piece, not the whole photo
    assert type_sources.hand_composite_samples([cut], [], 4) == []


def test_hand_composites_train_only_where_their_hand_does():
    samples = [_sample(f"rh:{i}", "ring", "ring-hands", f"rh:{i}", "worn") for i in range(40)]
    for i in range(20):
        samples.append(_sample(f"jt:{i}", "bracelet", "princesegzy01", f"jt:g{i}"))
    comps = []
    for i in range(20):
        c = _sample(f"hcomp:{i}", "bracelet", "princesegzy01", f"comp:jt:g{i}", "composite",
                    ("princesegzy01", "ring-hands"))
        comps.append(type_sources.Sample(c.key, c.label, c.sources, c.group, c.kind, c.make, host=f"rh:{i}"))
    samples += comps
    split = split_samples(samples, [s.group for s in samples], seed=0)
    host_split = {f"rh:{i}": split[i] for i in range(40)}
    piece_split = {f"jt:g{i}": split[40 + i] for i in range(20)}
    for i, sp in enumerate(split[60:]):
        both = host_split[f"rh:{i}"] == "train" and piece_split[f"jt:g{i}"] == "train"
        assert sp == ("train" if both else "unused")
    assert "train" in split[60:] and "unused" in split[60:]
