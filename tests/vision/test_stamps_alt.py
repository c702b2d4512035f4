"""The second (independent) stamp renderer: determinism, difference from the first, categories."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

from jewel_vision.vision import stamps, stamps_alt
from jewel_vision.vision.stamps_alt import (
    TWO_PART_TEXTS,
    alt_fonts,
    make_alt_specs,
    render_alt,
    render_alt_spec,
    truth_marks,
)


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


def _arr(img):
    return np.asarray(img, dtype=np.int16)


def test_deterministic_per_seed():
    kw = dict(style="punched", metal="rose", cap_px=22, curved=True, frame="shield", seed=5)
    a, b = render_alt("18K 750", **kw), render_alt("18K 750", **kw)
    assert a.size == b.size and np.array_equal(_arr(a), _arr(b))
    c = render_alt("18K 750", **{**kw, "seed": 6})
    assert c.size != a.size or not np.array_equal(_arr(a), _arr(c))
    assert make_alt_specs(12, 0, "test") == make_alt_specs(12, 0, "test")
    assert make_alt_specs(12, 1, "test") != make_alt_specs(12, 0, "test")


def test_fonts_differ_from_the_first_renderer():
    theirs = {os.path.basename(f) for f in stamps.available_fonts()}
    ours = alt_fonts()
    assert "<pillow-default>" in ours and len(ours) >= 2
    assert not {os.path.basename(f) for f in ours} & theirs
    assert {os.path.basename(s.font) for s in make_alt_specs(60, 0, "test")}.isdisjoint(theirs)


def test_shares_no_drawing_code():
    import ast

    tree = ast.parse(inspect.getsource(stamps_alt))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert not any(m.endswith("stamps") or m == "stamps" for m in imported), imported
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"render_stamp", "_text_mask", "METALS", "_blur", "stamps"}


def test_two_part_truth_and_categories():
    assert truth_marks("18K 750") == ("18K", "750")
    assert truth_marks("9K 375") == ("9K", "375")
    assert truth_marks("925 CZ") == ("S925",)
    assert truth_marks("PT950") == ("PT950",)
    specs = make_alt_specs(90, 0, "test")
    cats = [s.categories() for s in specs]
    for c in ("two_part", "tiny", "curved", "punched", "laser", "raised", "framed"):
        assert sum(d[c] for d in cats) >= 5, c
    assert {s.frame for s in specs} >= {"oval", "rect", "shield"}
    assert all(s.text in TWO_PART_TEXTS for s in specs if s.two_part)
    tune = make_alt_specs(30, 0, "tune")
    assert {s.seed for s in tune}.isdisjoint({s.seed for s in specs})


def test_tiny_stamp_is_a_small_part_of_the_photo():
    img = render_alt("750", cap_px=12, tiny=True, style="laser", seed=3)
    assert max(img.size) >= 520
    close = render_alt("750", cap_px=12, seed=3)
    assert max(close.size) < 200


def test_styles_look_different():
    base = dict(metal="yellow", cap_px=30, seed=11)
    imgs = [_arr(render_alt("585", style=st, **base)) for st in ("punched", "laser", "raised")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert imgs[i].shape != imgs[j].shape or np.abs(imgs[i] - imgs[j]).mean() > 1
    # punched marks are darker than the metal around them, raised ones are not
    mid = lambda a: a[a.shape[0] // 3: 2 * a.shape[0] // 3, a.shape[1] // 4: 3 * a.shape[1] // 4].mean()  # noqa: E731
    rim = lambda a: np.concatenate([a[:4].ravel(), a[-4:].ravel()]).mean()  # noqa: E731
    assert mid(imgs[0]) < rim(imgs[0]) - 3


def test_bad_arguments():
    with pytest.raises(ValueError):
        render_alt("925", style="engraved")
    with pytest.raises(ValueError):
        render_alt("925", metal="bronze")
    with pytest.raises(ValueError):
        render_alt("925", frame="star")
    with pytest.raises(ValueError):
        render_alt(" ")
    with pytest.raises(ValueError):
        make_alt_specs(2, 0, "train")


def test_render_spec_matches_render():
    s = make_alt_specs(4, 0, "tune")[1]
    assert np.array_equal(_arr(render_alt_spec(s)), _arr(render_alt_spec(s)))
