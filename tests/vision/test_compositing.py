"""Detector training crops: the major axis of a piece, centre heatmaps and touching-ring samples."""

from __future__ import annotations

import numpy as np

from jewel_vision.training.compositing import SampleConfig, SampleMaker, _major_axis


def test_major_axis_of_a_band() -> None:
    m = np.zeros((50, 50), bool)
    m[20:26, 5:45] = True
    u, along, across = _major_axis(m)
    assert abs(abs(u[0]) - 1) < 1e-6 and along == 40 and across == 6


class _Cache:
    """A tiny in-memory stand-in with the RingHandsCache fields SampleMaker reads."""

    def __init__(self, n: int = 3, h: int = 120, w: int = 160) -> None:
        rng = np.random.default_rng(0)
        self.img = np.full((n, h, w, 3), 200, np.uint8) + rng.integers(0, 20, (n, h, w, 3), dtype=np.uint8)
        self.mask = np.zeros((n, h, w), np.uint8)
        self.obj_boxes, self.ring_instance = [], []
        for i in range(n):
            x0 = 40 + 10 * i
            self.img[i, 50:62, x0 : x0 + 40] = (230, 190, 60)
            self.mask[i, 50:62, x0 : x0 + 40] = 255
            self.obj_boxes.append([(float(x0), 50.0, float(x0 + 40), 62.0)])
            self.instances = self.obj_boxes
            self.ring_instance.append(0)
        self.img_half = self.img[:, ::2, ::2].copy()
        self.mask_half = self.mask[:, ::2, ::2].copy()


def test_samples_carry_a_centre_heatmap_peaking_on_each_piece() -> None:
    cache = _Cache()
    maker = SampleMaker(cache, [0, 1, 2], config=SampleConfig(size=64), seed=3)
    imgs, masks, heats = maker.batch(12)
    assert imgs.shape == (12, 64, 64, 3) and imgs.dtype == np.uint8
    assert masks.shape == heats.shape == (12, 64, 64) and heats.dtype == np.float32
    assert heats.min() >= 0 and heats.max() <= 1
    for m, h in zip(masks, heats):
        if m.sum() > 50 and h.max() == 1.0:  # a piece in view: its centre peak lies on or by the mask
            py, px = np.unravel_index(h.argmax(), h.shape)
            near = m[max(0, py - 3) : py + 4, max(0, px - 3) : px + 4]
            assert near.max() > 0.5


def test_pair_samples_paste_a_second_ring_end_to_end() -> None:
    cache = _Cache()
    maker = SampleMaker(cache, [0, 1, 2], config=SampleConfig(size=96), seed=5)
    done = 0
    for _ in range(10):
        out = maker._pair_sample()
        if out is None:
            continue
        img, mask, centres = out
        assert len(centres) == 2  # the boxed ring and the pasted one
        (xa, ya, la), (xb, yb, lb) = centres
        dist = np.hypot(xa - xb, ya - yb)
        assert 0.5 * min(la, lb) < dist < 1.2 * (la + lb)  # touching: about one band length apart
        # both centres sit on the (joint) mask
        for x, y, _ in centres:
            xi, yi = int(round(x)), int(round(y))
            if 0 <= xi < 96 and 0 <= yi < 96:
                assert mask[max(0, yi - 2) : yi + 3, max(0, xi - 2) : xi + 3].max() > 0.5
        done += 1
    assert done >= 8
