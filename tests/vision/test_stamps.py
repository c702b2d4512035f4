"""Stamp renderer: determinism, variety, splits (no models, no Django)."""

from __future__ import annotations

import os
import numpy as np
import pytest

from jewel_vision.vision.stamps import (
    HALLMARK_TEXTS,
    HELD_OUT_FONTS,
    available_fonts,
    cjk_font_path,
    make_cross_specs,
    make_stamp_set,
    make_stamp_specs,
    render_packshot,
    render_stamp,
)


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


def _arr(img):
    return np.asarray(img, dtype=np.int16)


def test_fonts_found():
    assert available_fonts(), "no TrueType fonts (DejaVu) in /usr/share/fonts"


def test_render_is_deterministic():
    kw = dict(style="debossed", metal="yellow", curved=True, size_px=20, blur=0.8, seed=7)
    a, b = render_stamp("S925", **kw), render_stamp("S925", **kw)
    assert a.mode == "RGB" and a.size == b.size
    assert np.array_equal(_arr(a), _arr(b))
    c = render_stamp("S925", **{**kw, "seed": 8})
    assert c.size != a.size or not np.array_equal(_arr(a), _arr(c))


def test_text_height_follows_size_px():
    small = render_stamp("750", size_px=14, seed=1, rotation=0)
    big = render_stamp("750", size_px=42, seed=1, rotation=0)
    assert 2.4 < big.height / small.height < 3.6
    assert small.height < 80


def test_variety_metal_style_curve():
    base = dict(size_px=30, seed=3, rotation=0, noise=0, jpeg_quality=100)
    imgs = {m: _arr(render_stamp("585", metal=m, **base)).reshape(-1, 3).mean(axis=0) for m in ("yellow", "white", "rose")}
    # yellow: red > blue clearly; white: nearly neutral; rose: red dominant, green lowest-ish
    assert imgs["yellow"][0] - imgs["yellow"][2] > 40
    assert abs(imgs["white"][0] - imgs["white"][2]) < 20
    assert imgs["rose"][0] - imgs["rose"][1] > 25
    deb = _arr(render_stamp("585", style="debossed", **base))
    emb = _arr(render_stamp("585", style="embossed", **base))
    assert deb.shape == emb.shape and np.abs(deb - emb).mean() > 1.0
    flat = _arr(render_stamp("585", curved=False, **base))
    curved = _arr(render_stamp("585", curved=True, band_edges=False, **base))
    # the cylinder darkens the ends of the band relative to the middle
    w = curved.shape[1]
    ends = np.concatenate([curved[:, : w // 8], curved[:, -w // 8:]], axis=1).mean()
    mid = curved[:, 3 * w // 8: 5 * w // 8].mean()
    assert ends < mid and flat.shape == curved.shape


def test_blur_softens():
    sharp = _arr(render_stamp("PT950", size_px=24, seed=5, blur=0.0, noise=0, jpeg_quality=100)).astype(float)
    soft = _arr(render_stamp("PT950", size_px=24, seed=5, blur=1.5, noise=0, jpeg_quality=100)).astype(float)
    grad = lambda a: np.abs(np.diff(a.mean(axis=2), axis=1)).mean()  # noqa: E731
    assert grad(soft) < 0.8 * grad(sharp)


def test_bad_arguments():
    with pytest.raises(ValueError):
        render_stamp("925", style="engraved")
    with pytest.raises(ValueError):
        render_stamp("925", metal="bronze")
    with pytest.raises(ValueError):
        render_stamp("  ")


def test_cjk_rendering_depends_on_font():
    if cjk_font_path() is None:
        with pytest.raises(ValueError, match="CJK"):
            render_stamp("足金", seed=1)
    else:
        assert render_stamp("足金", seed=1).size[0] > 10


def test_splits_are_disjoint_and_balanced():
    tune = make_stamp_specs(48, 0, "tune")
    test = make_stamp_specs(48, 0, "test")
    assert {s.seed for s in tune}.isdisjoint({s.seed for s in test})
    assert not any(s.font_path.endswith(HELD_OUT_FONTS) for s in tune)
    for specs in (tune, test):
        combos = {(s.style, s.curved, s.metal) for s in specs}
        assert len(combos) == 12  # every style x surface x metal
        assert any(s.small for s in specs) and any(s.blurred for s in specs)
        assert all(s.text in HALLMARK_TEXTS for s in specs)
    assert make_stamp_specs(10, 0, "test") == make_stamp_specs(10, 0, "test")
    assert make_stamp_specs(10, 1, "test") != make_stamp_specs(10, 0, "test")
    with pytest.raises(ValueError):
        make_stamp_specs(2, 0, "train")


def test_make_stamp_set_small():
    items = make_stamp_set(3, seed=2, split="tune")
    assert len(items) == 3
    for img, text in items:
        assert img.mode == "RGB" and min(img.size) >= 8 and isinstance(text, str) and text


def test_packshot_has_no_text_and_varies():
    a, b = render_packshot(1), render_packshot(2)
    assert a.size == (384, 384)
    assert not np.array_equal(_arr(a), _arr(b))
    assert np.array_equal(_arr(a), _arr(render_packshot(1)))


def test_all_tiny_cross_specs_are_all_tiny_and_repeatable():
    tiny = make_cross_specs(40, 3, "tune", all_tiny=True)
    assert tiny == make_cross_specs(40, 3, "tune", all_tiny=True)
    assert all(s.margin is not None and 7 <= s.size_px <= 11 and s.small for s in tiny)
    assert all(25 <= s.margin[0] <= 40 and 20 <= s.margin[1] <= 32 for s in tiny)
    assert sum(s.margin is None for s in make_cross_specs(40, 3, "tune")) > 20  # the default set stays mostly not tiny
    assert not {os.path.basename(s.font_path) for s in tiny} & set(HELD_OUT_FONTS)  # tune: no held-out font
